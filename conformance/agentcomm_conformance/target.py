"""What ``--impl`` names: the implementation under test, behind one small interface.

* a reference hub URL (``sqlite:///hub.db?backoff_base=0.1``): a template; every test
  gets a fresh hub in its own directory, with the URL's options;
* ``python:package.module:factory``: ``factory()`` returns an object with ``name``,
  ``version``, ``kind``, ``capabilities``, ``new_hub(workdir) -> locator`` and
  ``open(locator, agent, clock) -> hub``, the hub having ``agentcomm.Hub``'s methods, and
  may have ``close()``, called once at the end of the run;
* ``driver:COMMAND``: any language, one process per agent, JSON lines (DRIVER.md).
"""

from __future__ import annotations

import importlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

import agentcomm
from agentcomm import Clock, Hub, ManualClock, connect
from agentcomm.driver import MANUAL_CLOCK
from agentcomm.errors import ConfigurationError
from agentcomm.urls import KINDS, fresh_url, hub_class
from agentcomm_conformance.servers import FakeRedisServer, RedisServer


class Target(Protocol):
    """The implementation under test, as the suite drives it."""

    name: str
    version: str
    kind: str
    capabilities: frozenset[str]

    @property
    def racer_spec(self) -> str:
        """What another process passes to ``load_target`` to reach the same hubs."""
        ...

    def new_hub(self, workdir: Path) -> str:
        """Make a fresh, empty hub; return the locator that ``open`` takes."""
        ...

    def open(self, hub: str, agent: str | None, clock: Clock | None) -> Hub:
        """A handle on ``hub`` acting as ``agent``, on ``clock`` (None: the system's)."""
        ...

    def advance(self, handles: Collection[Hub], clock: ManualClock, seconds: float) -> None:
        """Let ``seconds`` pass for every handle of one hub (manual_clock only)."""
        ...

    def race_claims(self, hub: str, queue: str, agents: list[str]) -> dict[str, list[str]]:
        """Agents in separate OS processes claim and complete from ``queue`` until it is
        empty, all at once; returns the ids each one completed."""
        ...

    def close(self) -> None: ...


def load_target(spec: str, *, driver_timeout: float = 10.0) -> Target:
    """Parse ``--impl``; ``driver_timeout`` bounds each wait for a driver's answer."""
    if spec.startswith("python:"):
        return PythonTarget(spec)
    if spec.startswith("driver:"):
        from agentcomm_conformance.driver_target import DriverTarget

        return DriverTarget(spec[len("driver:") :].strip(), spec, timeout=driver_timeout)
    if "://" in spec or spec.partition("?")[0].endswith(":"):
        return ReferenceTarget(spec)
    raise ConfigurationError(
        f"--impl {spec!r} is not a hub URL (sqlite:///hub.db), python:module:factory "
        "or driver:COMMAND"
    )


class InProcessTarget:
    """Shared by the targets whose hubs are Python objects in this process."""

    spec: str
    capabilities: frozenset[str]

    @property
    def racer_spec(self) -> str:
        """What a racer process passes to ``load_target`` to reach the same hubs."""
        return self.spec

    def advance(self, handles: Collection[Hub], clock: ManualClock, seconds: float) -> None:
        clock.advance(seconds)  # every handle of the hub shares this one clock

    def race_claims(self, hub: str, queue: str, agents: list[str]) -> dict[str, list[str]]:
        racers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agentcomm_conformance.racer",
                    self.racer_spec,
                    hub,
                    agent,
                    queue,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for agent in agents
        ]
        try:
            for racer in racers:  # each says "ready" once its hub is open
                assert racer.stdout is not None
                if racer.stdout.readline().strip() != "ready":
                    raise ConfigurationError(f"a racer for {self.spec!r} failed to start")
            for racer in racers:  # release every racer before waiting for any: they overlap
                assert racer.stdin is not None
                racer.stdin.write("go\n")
                racer.stdin.flush()
            results = [r.communicate(timeout=120)[0] for r in racers]
        finally:
            for racer in racers:
                racer.kill() if racer.poll() is None else None
        return {agent: json.loads(out) for agent, out in zip(agents, results, strict=True)}

    def close(self) -> None:
        pass


class ReferenceTarget(InProcessTarget):
    """This project's own hubs, by URL template.

    A template without a server (``redis:``, ``hybrid:``) gets a private ``redis-server``
    for the run; ``fakeredis:`` gets an in-memory fake Redis served on a loopback port, so
    that racer and driver processes reach it too.  Each hub is a fresh key prefix.
    """

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.server: RedisServer | FakeRedisServer | None = None
        self.template = self._template(spec)
        self.kind = KINDS.get(urllib.parse.urlsplit(self.template).scheme, "other")
        probe = hub_class(urllib.parse.urlsplit(self.template).scheme)
        self.name = "agentcomm-reference"
        self.version = agentcomm.__version__
        self.capabilities = frozenset(probe.capabilities)

    def _template(self, spec: str) -> str:
        if "://" in spec:
            return spec
        head, mark, query = spec.partition("?")
        scheme = head.rstrip(":")
        if scheme == "sqlite":
            return f"sqlite:///hub.db{mark}{query}"
        if scheme == "fakeredis":
            self.server = FakeRedisServer()
            try:
                self.server.start()
            except (ImportError, RuntimeError) as exc:
                raise ConfigurationError(
                    f"--impl fakeredis: needs fakeredis with Lua ({exc}):"
                    " pip install 'agentcomm[redis]'"
                ) from None
            return f"{self.server.url}?persistence=ignore" + (f"&{query}" if query else "")
        if scheme in {"redis", "hybrid"}:
            self.server = RedisServer(directory=Path(tempfile.mkdtemp(prefix="agentcomm-redis-")))
            try:
                self.server.start()
            except RuntimeError as exc:  # no binary, or it would not start
                raise ConfigurationError(
                    f"--impl {scheme}: cannot start a private redis-server: {exc}"
                ) from None
            url = self.server.url.replace("redis://", f"{scheme}://", 1)
            return url + (f"?{query}" if query else "")
        raise ConfigurationError(
            f"--impl {spec!r}: no reference hub for {scheme!r} "
            "(sqlite:, redis:, fakeredis:, hybrid: or a hub URL)"
        )

    @property
    def racer_spec(self) -> str:
        return self.template

    def new_hub(self, workdir: Path) -> str:
        url = fresh_url(self.template, workdir)
        connect(url, create=True).close()
        return url

    def open(self, hub: str, agent: str | None, clock: Clock | None) -> Hub:
        return connect(hub, agent=agent, clock=clock)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            if isinstance(self.server, RedisServer):  # its directory is ours: leave nothing
                shutil.rmtree(self.server.directory, ignore_errors=True)
            self.server = None


class PythonTarget(InProcessTarget):
    """A third party's implementation, imported in-process by ``python:module:factory``."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        module_name, _, attribute = spec[len("python:") :].partition(":")
        if not module_name or not attribute:
            raise ConfigurationError(f"--impl {spec!r}: expected python:package.module:factory")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"--impl {spec!r}: cannot load it: {exc}") from exc
        self.impl: Any = factory()
        for field in ("name", "version", "kind", "capabilities", "new_hub", "open"):
            if not hasattr(self.impl, field):
                raise ConfigurationError(f"--impl {spec!r}: the factory's object has no {field!r}")
        self.name, self.version = str(self.impl.name), str(self.impl.version)
        self.kind = str(self.impl.kind)
        self.capabilities = frozenset(self.impl.capabilities)

    def new_hub(self, workdir: Path) -> str:
        return str(self.impl.new_hub(str(workdir)))

    def open(self, hub: str, agent: str | None, clock: Clock | None) -> Hub:
        return self.impl.open(hub, agent, clock)  # type: ignore[no-any-return]

    def close(self) -> None:
        """The factory's object may own what its hubs live on (a server): ``close()`` it."""
        close = getattr(self.impl, "close", None)
        if callable(close):
            close()


CLOCK_FRACTION = 3 / 4096
"""The suite's clock starts this far past a whole second: 0.73 ms, exact in binary (so whole
seconds added to it stay exact), and moved by rounding to the nearest millisecond, so a hub
rounding a time the wrong way shows at the boundaries the spec names (SPEC ENV-005)."""


def start_clock(target: Target) -> ManualClock | None:
    """A manual clock for one hub when the target lets the suite drive time."""
    if MANUAL_CLOCK not in target.capabilities:
        return None
    return ManualClock(start=math.floor(time.time()) + CLOCK_FRACTION)


def describe(target: Target, spec: str) -> dict[str, Any]:
    return {
        "impl": spec,
        "name": target.name,
        "version": target.version,
        "kind": target.kind,
        "capabilities": sorted(target.capabilities),
    }
