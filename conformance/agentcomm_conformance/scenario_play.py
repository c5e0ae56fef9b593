"""One run of one scenario case: a fresh hub, real agent processes, the steps in order.

``Play`` opens hub handles in this process for the steps; ``Fleet`` starts, stops and
kills the agent processes; ``STEPS`` does each kind of step.  Waits poll observable state
with a bound (``WAIT_LIMIT``), never sleep a fixed time.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import agentcomm
import agentcomm_conformance
from agentcomm import Hub, errors
from agentcomm.driver import MANUAL_CLOCK
from agentcomm_conformance.scenario_checks import fill, first_mismatch, reply_problem
from agentcomm_conformance.scenario_format import AgentSpec, Case, StepFailed
from agentcomm_conformance.spec import statements
from agentcomm_conformance.target import InProcessTarget, ReferenceTarget, Target

WAIT_LIMIT = 15.0
"""Longest a ``wait_until``, an agent start or a ``stop`` may take before the step fails."""
POLL = 0.02
STOP_GRACE = 5.0


class ScenarioFailure(AssertionError):
    """A case that ran and failed; its text is the whole report."""


class Play:
    """One run of one case on a fresh hub of the target."""

    def __init__(self, case: Case, target: Target, workdir: Path) -> None:
        self.case, self.target, self.workdir = case, target, workdir
        self.messages: dict[str, list[str]] = {}
        self.events: dict[str, str] = {}
        self.handles: dict[str | None, Hub] = {}
        self.runs = workdir / "runs.jsonl"
        self.locator = ""
        self._fleet: Fleet | None = None

    def run(self) -> None:
        why = skip_reason(self.case, self.target)
        if why:
            pytest.skip(why)
        self.locator = with_hub_options(self.target.new_hub(self.workdir), self.case.hub)
        self._fleet = Fleet(self, agent_command(self.target, self.locator))
        try:
            self._step(0, "setup", self._fleet.start_all)
            for number, (kind, args) in enumerate(self.case.steps, 1):
                self._step(number, kind, functools.partial(STEPS[kind], self, args))
        finally:
            self._fleet.close()
            for handle in self.handles.values():
                handle.close()

    def _step(self, number: int, kind: str, action: Callable[[], None]) -> None:
        where = (
            f"{self.case.label} setup"
            if number == 0
            else f"{self.case.label} step {number} ({kind})"
        )
        try:
            action()
        except StepFailed as exc:
            raise ScenarioFailure(f"{where}: {exc}") from None
        except errors.AgentCommError as exc:
            raise ScenarioFailure(f"{where}: the hub raised {type(exc).__name__}: {exc}") from exc

    # -- what steps use --------------------------------------------------------------------------
    def handle(self, agent: str | None = None) -> Hub:
        if agent not in self.handles:
            self.handles[agent] = self.target.open(self.locator, agent, None)
        return self.handles[agent]

    @property
    def agents(self) -> Fleet:
        """The case's agent processes (they exist once the run has begun)."""
        assert self._fleet is not None
        return self._fleet

    @property
    def monitor(self) -> Hub:
        return self.handle(None)

    def agent_ids(self, ref: str) -> list[str]:
        """The agents an agent id or a role stands for."""
        return [a.id for a in self.case.agents if ref in {a.id, a.role}]

    def members(self, name: str) -> list[tuple[str, str, int]]:
        """(label, message id, n) for each message a send of ``name`` made."""
        ids = self.messages[name]
        if len(ids) == 1:
            return [(repr(name), ids[0], 1)]
        return [(f"{name!r} #{n}", mid, n) for n, mid in enumerate(ids, 1)]

    def message_name(self, message_id: str) -> str:
        for name, ids in self.messages.items():
            if message_id in ids:
                return name if len(ids) == 1 else f"{name}#{ids.index(message_id) + 1}"
        return f"id {message_id}"

    def event_name(self, event_id: str) -> str:
        return next((n for n, e in self.events.items() if e == event_id), f"id {event_id}")


def skip_reason(case: Case, target: Target) -> str | None:
    """Why this target cannot run this case, or None."""
    known = statements()
    if not any(known[i].applies_to(target.kind) for i in case.requirements):
        return f"not applicable to a hub of kind {target.kind!r}"
    if not isinstance(target, InProcessTarget) and MANUAL_CLOCK in target.capabilities:
        return (
            "scenarios run on the real clock; this target declares manual_clock, so its "
            "handles run on clocks only the suite moves (start the driver without it)"
        )
    return None


def with_hub_options(locator: str, options: dict[str, float]) -> str:
    """The case's hub options in the locator's URL query (they win over the template's)."""
    if not options:
        return locator
    if "://" not in locator:
        pytest.skip(
            f"this case sets hub options ({', '.join(options)}), and this target's "
            f"hubs are not URLs that could carry them: {locator!r}"
        )
    base, _, query = locator.partition("?")
    merged = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    merged.update({name: str(value) for name, value in options.items()})
    return f"{base}?{urllib.parse.urlencode(merged, safe=':/')}"


def agent_command(target: Target, locator: str) -> Callable[[AgentSpec, Path], list[str]]:
    """How to start an agent: ``agentcomm agent run`` on a reference hub URL, else the same
    runner on a hub opened through ``--impl`` in the agent's own process."""
    if isinstance(target, ReferenceTarget):
        head = [sys.executable, "-m", "agentcomm.cli", "--url", locator, "agent", "run"]
    else:
        head = [
            sys.executable,
            "-m",
            "agentcomm_conformance.behave",
            "host",
            target.racer_spec,
            locator,
        ]

    def command(agent: AgentSpec, runs: Path) -> list[str]:
        handler = shlex.join(
            [
                sys.executable,
                "-m",
                "agentcomm_conformance.behave",
                "handle",
                str(runs),
                json.dumps(agent.behaviour),
            ]
        )
        options = ["--heartbeat", str(agent.heartbeat)]
        options += [arg for t in agent.handles for arg in ("--handler", f"{t}={handler}")]
        options += [arg for t in agent.subscribes for arg in ("--on-event", f"{t}={handler}")]
        options += [arg for q in agent.queues for arg in ("--queue", q)]
        return [*head, agent.id, *options]

    return command


class Fleet:
    """The case's agent processes; each one's output goes to ``agents/<id>.log``."""

    def __init__(self, play: Play, command: Callable[[AgentSpec, Path], list[str]]) -> None:
        self.play, self.command = play, command
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = play.workdir / "agents"
        self.logs.mkdir(exist_ok=True)
        self.env = child_env()

    def spec(self, agent: str) -> AgentSpec:
        return next(a for a in self.play.case.agents if a.id == agent)

    def start_all(self) -> None:
        self.start([a.id for a in self.play.case.agents if a.start])

    def start(self, refs: list[str]) -> None:
        agents = [a for ref in refs for a in self.play.agent_ids(ref)]
        for agent in agents:
            if self.state(agent) == "running":
                raise StepFailed(f"agent {agent} is already running")
            with open(self.logs / f"{agent[1:]}.log", "ab") as log:
                self.procs[agent] = subprocess.Popen(
                    self.command(self.spec(agent), self.play.runs),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=self.env,
                )
        _wait(lambda: self._not_up(agents), f"agents {', '.join(agents)} to register alive")

    def _not_up(self, agents: list[str]) -> str | None:
        """Why these agents are not all up yet (None: they are registered and alive)."""
        entries = {a.agent_id: a for a in self.play.monitor.agents()}
        for agent in agents:
            proc = self.procs[agent]
            if proc.poll() is not None:
                raise StepFailed(
                    f"agent {agent} exited with {proc.returncode} before it was "
                    f"up; its log ends:\n{self.tail(agent)}"
                )
            entry = entries.get(agent)
            if entry is None or not entry.alive or entry.process_id != proc.pid:
                return f"{agent} is not registered alive with process id {proc.pid}"
        return None

    def stop(self, refs: list[str]) -> None:
        """SIGTERM: a clean exit, which must be quick and successful."""
        agents = self._running(refs)
        for agent in agents:
            self.procs[agent].send_signal(signal.SIGTERM)
        for agent in agents:
            code = self._reap(agent, WAIT_LIMIT)
            if code != 0:
                raise StepFailed(
                    f"agent {agent} exited with {code} on SIGTERM, expected 0; "
                    f"its log ends:\n{self.tail(agent)}"
                )

    def kill(self, refs: list[str]) -> None:
        for agent in self._running(refs):
            self.procs[agent].kill()
            self._reap(agent, WAIT_LIMIT)

    def _running(self, refs: list[str]) -> list[str]:
        agents = [a for ref in refs for a in self.play.agent_ids(ref)]
        idle = [a for a in agents if self.state(a) != "running"]
        if idle:
            raise StepFailed(f"agents {', '.join(idle)} are not running")
        return agents

    def _reap(self, agent: str, limit: float) -> int | None:
        try:
            return self.procs[agent].wait(timeout=limit)
        except subprocess.TimeoutExpired:
            return None

    def state(self, agent: str) -> str:
        proc = self.procs.get(agent)
        if proc is None or proc.poll() is None:
            return "running" if proc is not None else "never started"
        return "killed" if proc.returncode == -signal.SIGKILL else "exited"

    def tail(self, agent: str, lines: int = 8) -> str:
        text = (self.logs / f"{agent[1:]}.log").read_text("utf-8", errors="replace")
        return "\n".join("  | " + line for line in text.splitlines()[-lines:])

    def close(self) -> None:
        """Stop what still runs: SIGTERM (and SIGCONT, for a stalled agent), then SIGKILL."""
        running = [p for p in self.procs.values() if p.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)
        for proc in running:
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def child_env() -> dict[str, str]:
    """This environment, with both packages importable and no stray hub or identity."""
    env = {k: v for k, v in os.environ.items() if k not in {"AGENTCOMM_URL", "AGENTCOMM_AGENT"}}
    roots = {
        str(Path(m.__file__ or "").resolve().parents[1]) for m in (agentcomm, agentcomm_conformance)
    }
    env["PYTHONPATH"] = os.pathsep.join([*sorted(roots), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _wait(why_not: Callable[[], str | None], what: str, limit: float = WAIT_LIMIT) -> None:
    """Poll until ``why_not()`` says nothing is missing; fail with its last word."""
    end = time.monotonic() + limit
    while (missing := why_not()) is not None:
        if time.monotonic() > end:
            raise StepFailed(f"{missing} (waited {limit:g} s for {what})")
        time.sleep(POLL)


# -- steps ---------------------------------------------------------------------------------------
def _send(play: Play, args: dict[str, Any]) -> None:
    options = {
        k: args[k]
        for k in ("priority", "timeout_seconds", "max_retries", "expires_in")
        if k in args
    }
    handle = play.handle(args["as"])
    play.messages[args["name"]] = [
        handle.send(args["to"], args["type"], fill(args["payload"], n), **options).id
        for n in range(1, args.get("repeat", 1) + 1)
    ]


def _request(play: Play, args: dict[str, Any]) -> None:
    options = {k: args[k] for k in ("priority", "correlation_id") if k in args}
    handle = play.handle(args["as"])
    try:
        reply = handle.request(
            args["to"], args["type"], fill(args["payload"], 1), timeout=args["timeout"], **options
        )
    except errors.DeadlineExceeded as exc:
        play.messages[args["name"]] = [_named_request(play, args, exc)]
        if args.get("raises") != "DeadlineExceeded":
            raise StepFailed(f"no reply within {args['timeout']} s: {exc}") from None
        if exc.definite:
            raise StepFailed(
                "DeadlineExceeded says it is definite; a request may still be "
                "handled after its requester stopped waiting"
            ) from None
        return
    play.messages[args["name"]] = [reply.request_id]
    if "raises" in args:
        raise StepFailed(f"got a reply, expected {args['raises']}: {reply.payload!r}")
    problem = reply_problem(repr(args["name"]), reply, args.get("reply", {}), 1)
    if problem:
        raise StepFailed(problem)


def _named_request(play: Play, args: dict[str, Any], exc: Exception) -> str:
    """The request's id, which DeadlineExceeded's message must name (SPEC REQ-006)."""
    for word in dict.fromkeys(re.findall(r"[\w.:\-]+", str(exc))):
        with contextlib.suppress(errors.AgentCommError):
            found = play.monitor.get(word)
            if (found.to_agent, found.type, found.from_agent) == (
                args["to"],
                args["type"],
                args["as"],
            ):
                return found.id
    raise StepFailed(f"DeadlineExceeded does not name the request's id: {exc}")


def _publish(play: Play, args: dict[str, Any]) -> None:
    options = {"ttl": args["ttl"]} if "ttl" in args else {}
    event = play.handle(args["as"]).publish(args["type"], fill(args["payload"], 1), **options)
    play.events[args["name"]] = event.id


def _subscribe(play: Play, args: dict[str, Any]) -> None:
    play.handle(args["as"]).subscribe(args["type"])


def _replay(play: Play, args: dict[str, Any]) -> None:
    for _label, message_id, _n in play.members(args["message"]):
        play.monitor.replay(message_id)


def _sweep(play: Play, _args: dict[str, Any]) -> None:
    play.monitor.sweep()


def _wait_until(play: Play, expectations: list[dict[str, Any]]) -> None:
    _wait(lambda: first_mismatch(play, expectations), "the expectations to hold")


def _expect(play: Play, expectations: list[dict[str, Any]]) -> None:
    mismatch = first_mismatch(play, expectations)
    if mismatch is not None:
        raise StepFailed(mismatch)


STEPS: dict[str, Callable[[Play, Any], None]] = {
    "send": _send,
    "request": _request,
    "publish": _publish,
    "subscribe": _subscribe,
    "replay": _replay,
    "sweep": _sweep,
    "start": lambda play, refs: play.agents.start(refs),
    "stop": lambda play, refs: play.agents.stop(refs),
    "kill": lambda play, refs: play.agents.kill(refs),
    "wait_until": _wait_until,
    "expect": _expect,
}
