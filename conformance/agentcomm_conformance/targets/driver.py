"""A driver seen as a hub, and what ``--impl driver:COMMAND`` runs (DRIVER.md).

``DriverHub`` makes one driver process look like an ``agentcomm.Hub``; ``SharedClock``
keeps the handles of one hub on one manual time; ``DriverTarget`` is the ``Target``: a
"factory" driver makes hubs, and every handle the suite opens is a driver of its own
(``driver/process.py`` talks to each).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from agentcomm import Claim, Clock, Hub, ManualClock
from agentcomm.driver import HUB_OPS, MANUAL_CLOCK
from agentcomm.errors import AgentCommError, ConfigurationError
from agentcomm_conformance.driver.args import Inexpressible, allowance
from agentcomm_conformance.driver.process import DEFAULT_TIMEOUT, DriverProcess

__all__ = ["DriverHub", "DriverTarget", "SharedClock"]


# -- a driver seen as a Hub ----------------------------------------------------------------------
class DriverHub:
    """A hub handle served by a driver process: ``agentcomm.Hub``'s public methods, each
    forwarded as one request (positional arguments are named by ``Hub``'s signatures)."""

    def __init__(
        self, driver: DriverProcess, agent: str | None, shared: SharedClock | None = None
    ) -> None:
        self.driver = driver
        self.agent_id = agent
        self.capabilities = driver.hello.capabilities
        self.shared = shared

    def advance_clock(self, seconds: float) -> None:
        """Let ``seconds`` pass on this handle's clock (capability ``manual_clock``)."""
        self.driver.call("advance_clock", seconds=seconds)

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> DriverHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DriverHub({self.driver.name!r}, agent={self.agent_id!r})"

    def _forward(self, op: str, arguments: dict[str, Any]) -> Any:
        try:
            result = self.driver.call(op, **arguments)
        except Inexpressible as exc:
            pytest.skip(f"not testable through a driver: {exc}")
        except AgentCommError:
            self._settle(op, arguments)
            raise
        self._settle(op, arguments)
        return result

    def _settle(self, op: str, arguments: dict[str, Any]) -> None:
        """After a call that may have waited, bring the other handles to this one's time."""
        if self.shared is not None and self.driver.alive and allowance(op, arguments) > 0:
            self.shared.catch_up(self)


def _forwarder(name: str) -> Any:
    method = getattr(Hub, name)
    signature = inspect.signature(method)

    def forward(self: DriverHub, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        del arguments["self"]
        return self._forward(name, arguments)

    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = method.__doc__
    forward.__signature__ = signature  # type: ignore[attr-defined]
    return forward


for _name in HUB_OPS:
    setattr(DriverHub, _name, _forwarder(_name))


class SharedClock:
    """The suite's manual clock of one hub, and the driver handles that run on it.

    Each handle's clock lives in its own process.  The suite moves them all alike
    (``advance``); and when a waiting call let time pass on one of them (SPEC CAP-003:
    a wait passes time through the clock's ``sleep``), ``catch_up`` moves the others and
    the suite's clock to it, so that every handle of the hub reads one time, as in-process.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.handles: list[DriverHub] = []

    @property
    def in_use(self) -> bool:
        return any(h.driver.alive for h in self.handles)

    def advance(self, seconds: float, *, moved: DriverHub | None = None) -> None:
        """Let ``seconds`` pass for the suite and every open handle (but ``moved``)."""
        self.clock.advance(seconds)
        drivers = [h.driver for h in self.handles if h is not moved and h.driver.alive]
        submitted = [(d, d.submit("advance_clock", seconds=seconds)) for d in drivers]
        for driver, request_id in submitted:
            driver.collect(request_id)

    def catch_up(self, handle: DriverHub) -> None:
        ahead = float(handle.driver.call("read_clock")) - self.clock.now()
        if ahead > 0:
            self.advance(ahead, moved=handle)


# -- what --impl driver:COMMAND runs -------------------------------------------------------------
class DriverTarget:
    """A ``Target`` (see ``targets/__init__.py``) served by driver processes: one "factory" driver
    makes fresh hubs; every handle the suite opens is a driver of its own."""

    def __init__(self, command: str, spec: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.command, self.spec, self.timeout = command, spec, timeout
        self._started: list[DriverProcess] = []
        self._clocks: dict[int, SharedClock] = {}
        self.factory = self._start("factory")
        hello = self.factory.hello
        self.name, self.version, self.kind = hello.name, hello.version, hello.kind
        self.capabilities = hello.capabilities

    @property
    def racer_spec(self) -> str:
        return self.spec

    def new_hub(self, workdir: Path) -> str:
        return str(self.factory.call("new_hub", workdir=str(workdir.absolute()))["hub"])

    def open(self, hub: str, agent: str | None, clock: Clock | None) -> Hub:
        driver = self._start(agent or "monitor")
        shared = self._shared(clock)
        args: dict[str, Any] = {"hub": hub, "agent": agent}
        if shared is not None:  # every handle of one hub starts at the suite's time
            args["now"] = shared.clock.now()
        try:
            driver.call("open", **args)
        except Exception:
            driver.close()
            raise
        handle = DriverHub(driver, agent, shared)
        if shared is not None:
            shared.handles.append(handle)
        return cast(Hub, handle)  # it has Hub's methods, not its base class

    def advance(self, handles: Collection[Hub], clock: ManualClock, seconds: float) -> None:
        """Every handle opened on ``clock`` (``handles`` are those) moves by ``seconds``."""
        shared = self._shared(clock)
        if shared is None:
            raise ConfigurationError(f"{self.spec!r} does not declare {MANUAL_CLOCK!r}")
        shared.advance(seconds)

    def race_claims(self, hub: str, queue: str, agents: list[str]) -> dict[str, list[str]]:
        """Each agent's driver claims from ``queue`` at the same moment as the others, then
        completes what it got, round after round until it finds the queue empty."""
        racers = {agent: self._start(f"racer {agent}") for agent in agents}
        try:
            _all(racers, lambda agent: ("open", {"hub": hub, "agent": agent}))
            done: dict[str, list[str]] = {agent: [] for agent in agents}
            active = dict(racers)
            while active:
                claims = _all(active, lambda _: ("claim", {"source": queue}))
                active = {a: active[a] for a, claim in claims.items() if claim is not None}
                _all(active, _completing(claims))
                for agent in active:
                    done[agent].append(claims[agent].id)
            return done
        finally:
            for racer in racers.values():
                racer.close()

    def close(self) -> None:
        failures: list[Exception] = []
        for driver in self._started:
            try:
                driver.close()
            except Exception as exc:  # every driver is reaped; then the first failure raised
                failures.append(exc)
        if failures:
            raise failures[0]

    def _start(self, name: str) -> DriverProcess:
        driver = DriverProcess.start(self.command, timeout=self.timeout, name=name)
        self._started.append(driver)
        return driver

    def _shared(self, clock: Clock | None) -> SharedClock | None:
        if not isinstance(clock, ManualClock) or MANUAL_CLOCK not in self.capabilities:
            return None
        found = self._clocks.get(id(clock))
        if found is None:  # a new hub: forget those whose handles are all closed
            self._clocks = {k: c for k, c in self._clocks.items() if c.in_use}
            found = self._clocks[id(clock)] = SharedClock(clock)
        return found


def _completing(claims: Mapping[str, Claim]) -> Callable[[str], tuple[str, dict[str, Any]]]:
    return lambda agent: (
        "complete",
        {"message_id": claims[agent].id, "token": claims[agent].token},
    )


def _all(
    drivers: Mapping[str, DriverProcess], request: Callable[[str], tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Submit ``request(key)`` (an op and its args) to every driver, then collect each."""
    submitted: dict[str, int] = {}
    for key, driver in drivers.items():
        op, args = request(key)
        submitted[key] = driver.submit(op, **args)
    return {key: drivers[key].collect(request_id) for key, request_id in submitted.items()}
