"""How scenario agents behave (``scenarios/README.md``), as programs agents run.

Two entry points, both started by the scenario runner, never by hand:

``python -m agentcomm_conformance.scenario_runner.behave handle RUNS BEHAVIOUR``
    A handler command for ``agentcomm agent run --handler TYPE=CMD`` (and ``--on-event``):
    it appends one line to the RUNS file (JSON lines: which agent ran which message or
    event, when), then acts out BEHAVIOUR (JSON: ``"echo"`` or ``{"fail_times": 2}``).
    The runs file is how a scenario sees what agents did without trusting their word.

``python -m agentcomm_conformance.scenario_runner.behave host IMPL HUB AGENT [--handler ...] ...``
    The agent runtime of ``agent run`` (``AgentRunner``) on a hub opened through
    ``load_target(IMPL)``, for targets that are not reference hub URLs (``python:``,
    ``driver:``): the same loop and handlers, the target's own hub underneath.

Handlers that wait (``never_ack``, the slow ones) watch their parent, the agent: when it
dies they exit, so no handler outlives its agent.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, cast

COUNT = "count"
SECONDS = "seconds"
MESSAGES = "messages"
EVENTS = "events"

BEHAVIOURS: dict[str, tuple[str | None, frozenset[str]]] = {
    "echo": (None, frozenset({MESSAGES, EVENTS})),
    "validate_token": (None, frozenset({MESSAGES})),
    "fail_times": (COUNT, frozenset({MESSAGES})),
    "poison": (None, frozenset({MESSAGES})),
    "crash_after_claim": (None, frozenset({MESSAGES})),
    "sleep_past_lease": (SECONDS, frozenset({MESSAGES})),
    "never_ack": (None, frozenset({MESSAGES})),
    "slow_reply": (SECONDS, frozenset({MESSAGES})),
    "slow_subscriber": (SECONDS, frozenset({EVENTS})),
}
"""Each behaviour: the kind of its parameter (None: it takes none) and what it handles."""

EX_DATAERR = 65
"""``agent run`` dead-letters a message at once when its handler exits with this."""
WATCH_STEP = 0.05


class BadBehaviour(ValueError):
    """A behaviour that is not in ``BEHAVIOURS`` or has a wrong parameter."""


def parse_behaviour(value: object) -> tuple[str, Any]:
    """``"echo"`` -> ("echo", None); ``{"fail_times": 2}`` -> ("fail_times", 2)."""
    if isinstance(value, str):
        name, param = value, None
    elif isinstance(value, dict) and len(value) == 1:
        name, param = next(iter(value.items()))
    else:
        raise BadBehaviour(f"behaviour {value!r} is not a name or a one-key mapping")
    if name not in BEHAVIOURS:
        raise BadBehaviour(f"unknown behaviour {name!r} (known: {', '.join(BEHAVIOURS)})")
    kind = BEHAVIOURS[name][0]
    if kind is None and param is not None:
        raise BadBehaviour(f'behaviour {name!r} takes no parameter: write "{name}"')
    if kind is not None and not _fits(kind, param):
        raise BadBehaviour(
            f'behaviour {name!r} needs a {kind} parameter, as {{"{name}": ...}}, not {param!r}'
        )
    return name, param


def _fits(kind: str, param: object) -> bool:
    if isinstance(param, bool) or not isinstance(param, (int, float)):
        return False
    return isinstance(param, int) and param >= 0 if kind == COUNT else 0 < param <= 60


# -- the handler -------------------------------------------------------------------------------
def handle(runs: str, behaviour: str) -> int:
    """Record this run, then act out the behaviour; returns the exit status."""
    name, param = parse_behaviour(json.loads(behaviour))
    payload = json.load(sys.stdin)
    parent = os.getppid()
    earlier = record(runs)
    act = ACTS[name]
    return act(payload, param, parent, earlier)


def record(runs: str) -> int:
    """Append this run to ``runs``; return how many runs of this message came before."""
    message = os.environ.get("AGENTCOMM_MESSAGE_ID")
    line = {
        "agent": os.environ.get("AGENTCOMM_AGENT"),
        "kind": "message" if message else "event",
        "id": message or os.environ.get("AGENTCOMM_EVENT_ID"),
        "type": os.environ.get("AGENTCOMM_TYPE") or os.environ.get("AGENTCOMM_EVENT_TYPE"),
        "retry_count": _int(os.environ.get("AGENTCOMM_RETRY_COUNT")),
        "at": time.time(),
        "pid": os.getpid(),
    }
    earlier = sum(
        1
        for run in read_runs(runs)
        if run["kind"] == "message" and message and run["id"] == message
    )
    # One write of one line to a file opened for appending: lines never interleave.
    fd = os.open(runs, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return earlier


def read_runs(runs: str) -> list[dict[str, Any]]:
    """Every recorded run, oldest first (a line being written is left out)."""
    try:
        with open(runs, encoding="utf-8") as log:
            lines = log.read().split("\n")[:-1]  # only lines with their newline are complete
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line]


def _int(text: str | None) -> int | None:
    return int(text) if text else None


def _answer(value: Any) -> int:
    print(json.dumps(value))
    return 0


def _echo(payload: Any, _param: Any, _parent: int, _earlier: int) -> int:
    return _answer(payload)


def _validate_token(payload: Any, _param: Any, _parent: int, _earlier: int) -> int:
    """The design's use case 1: a token is valid when it starts with ``jwt``."""
    token = payload.get("token", "") if isinstance(payload, dict) else ""
    valid = isinstance(token, str) and token.startswith("jwt")
    return _answer({"valid": valid, "user": "john_doe" if valid else None})


def _fail_times(payload: Any, times: int, _parent: int, earlier: int) -> int:
    """Fail this message's first ``times`` runs (by any agent), then echo."""
    if earlier < times:
        print(f"fail_times: failure {earlier + 1} of {times}", file=sys.stderr)
        return 1
    return _answer(payload)


def _poison(_payload: Any, _param: Any, _parent: int, _earlier: int) -> int:
    print("poison: this message can never be handled", file=sys.stderr)
    return EX_DATAERR


def _crash_after_claim(_payload: Any, _param: Any, parent: int, _earlier: int) -> int:
    """The agent holding the lease is killed outright: no reply, no fail, no release."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(parent, signal.SIGKILL)
    return 1


def _sleep_past_lease(payload: Any, seconds: float, parent: int, _earlier: int) -> int:
    """The whole agent stalls (as in a long pause of its host) for ``seconds``, so it
    neither renews its lease nor heartbeats; then it wakes up and answers, too late."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(parent, signal.SIGSTOP)
    try:
        _wait_while_parent(parent, seconds)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(parent, signal.SIGCONT)
    return _answer(payload)


def _never_ack(_payload: Any, _param: Any, parent: int, _earlier: int) -> int:
    """Never answer; ``agent run`` keeps renewing the lease while this runs."""
    _wait_while_parent(parent, float("inf"))
    return 1


def _slow_reply(payload: Any, seconds: float, parent: int, _earlier: int) -> int:
    _wait_while_parent(parent, seconds)
    return _answer(payload)


def _slow_subscriber(_payload: Any, seconds: float, parent: int, _earlier: int) -> int:
    _wait_while_parent(parent, seconds)
    return 0


def _wait_while_parent(parent: int, seconds: float) -> None:
    """Let ``seconds`` pass; exit at once if the agent that started us is gone."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        if os.getppid() != parent:
            sys.exit(1)
        time.sleep(min(left, WATCH_STEP))


Act = Callable[[Any, Any, int, int], int]
ACTS: dict[str, Act] = {
    "echo": _echo,
    "validate_token": _validate_token,
    "fail_times": _fail_times,
    "poison": _poison,
    "crash_after_claim": _crash_after_claim,
    "sleep_past_lease": _sleep_past_lease,
    "never_ack": _never_ack,
    "slow_reply": _slow_reply,
    "slow_subscriber": _slow_subscriber,
}


# -- the host ----------------------------------------------------------------------------------
def host(argv: list[str]) -> int:
    """``agent run``'s loop on a hub of any target: the same options, the same runner."""
    from agentcomm import Hub
    from agentcomm.agent import AgentConfig, AgentRunner, parse_handler, stop_on_signals
    from agentcomm_conformance.targets import load_target

    options = _host_parser().parse_args(argv)
    config = AgentConfig(
        handlers=dict(parse_handler(h) for h in options.handlers),
        event_handlers=dict(parse_handler(h, event=True) for h in options.on_events),
        queues=tuple(options.queues),
        heartbeat_every=options.heartbeat,
    )
    target = load_target(options.impl)
    try:
        hub = target.open(options.hub, options.agent, None)
        with stop_on_signals() as stop:
            hosted = cast(Hub, _Hosted(hub, options.hub))  # has Hub's methods, not its base
            summary = AgentRunner(hosted, config, stop).run()
        hub.close()
    finally:
        target.close()
    print(json.dumps(dataclasses.asdict(summary)))
    return 0


def _host_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agentcomm_conformance.scenario_runner.behave host"
    )
    parser.add_argument("impl")
    parser.add_argument("hub")
    parser.add_argument("agent")
    parser.add_argument("--handler", dest="handlers", action="append", default=[])
    parser.add_argument("--on-event", dest="on_events", action="append", default=[])
    parser.add_argument("--queue", dest="queues", action="append", default=[])
    parser.add_argument("--heartbeat", type=float, default=10.0)
    return parser


class _Hosted:
    """A target's hub handle with the ``settings`` the runner reads (its heartbeat TTL),
    taken from the hub URL when the locator is one."""

    def __init__(self, hub: Any, locator: str) -> None:
        from agentcomm.errors import ConfigurationError
        from agentcomm.settings import HubSettings
        from agentcomm.urls import parse

        self._hub = hub
        self.settings = getattr(hub, "settings", None) or HubSettings()
        if not hasattr(hub, "settings") and "://" in locator:
            with contextlib.suppress(ConfigurationError):
                self.settings = parse(locator).settings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hub, name)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "handle":
        return handle(argv[1], argv[2])
    if argv and argv[0] == "host":
        return host(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
