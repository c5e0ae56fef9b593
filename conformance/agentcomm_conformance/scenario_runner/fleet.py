"""A scenario's agent processes: how each is started on the target's hub, and ``Fleet``,
which starts, stops and kills them.  Waits poll observable state with a bound
(``WAIT_LIMIT``), never sleep a fixed time.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import agentcomm
import agentcomm_conformance
from agentcomm_conformance.scenario_runner.format import AgentSpec, StepFailed
from agentcomm_conformance.targets import Target
from agentcomm_conformance.targets.reference import ReferenceTarget

if TYPE_CHECKING:
    from agentcomm_conformance.scenario_runner.play import Play

WAIT_LIMIT = 15.0
"""Longest a ``wait_until``, an agent start or a ``stop`` may take before the step fails."""
POLL = 0.02
STOP_GRACE = 5.0


def agent_command(target: Target, locator: str) -> Callable[[AgentSpec, Path], list[str]]:
    """How to start an agent: ``agentcomm agent run`` on a reference hub URL, else the same
    runner on a hub opened through ``--impl`` in the agent's own process."""
    if isinstance(target, ReferenceTarget):
        head = [sys.executable, "-m", "agentcomm.cli", "--url", locator, "agent", "run"]
    else:
        head = [
            sys.executable,
            "-m",
            "agentcomm_conformance.scenario_runner.behave",
            "host",
            target.racer_spec,
            locator,
        ]

    def command(agent: AgentSpec, runs: Path) -> list[str]:
        handler = shlex.join(
            [
                sys.executable,
                "-m",
                "agentcomm_conformance.scenario_runner.behave",
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
        poll_until(lambda: self._not_up(agents), f"agents {', '.join(agents)} to register alive")

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


def poll_until(why_not: Callable[[], str | None], what: str, limit: float = WAIT_LIMIT) -> None:
    """Poll until ``why_not()`` says nothing is missing; fail with its last word."""
    end = time.monotonic() + limit
    while (missing := why_not()) is not None:
        if time.monotonic() > end:
            raise StepFailed(f"{missing} (waited {limit:g} s for {what})")
        time.sleep(POLL)
