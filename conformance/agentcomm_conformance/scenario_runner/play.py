"""One run of one scenario case: a fresh hub, real agent processes, the steps in order.

``Play`` opens hub handles in this process for the steps; ``Fleet`` (``fleet.py``) starts,
stops and kills the agent processes; ``STEPS`` (``steps.py``) does each kind of step.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from agentcomm import Hub, errors
from agentcomm.driver import MANUAL_CLOCK
from agentcomm_conformance.scenario_runner.fleet import Fleet, agent_command
from agentcomm_conformance.scenario_runner.format import Case, StepFailed
from agentcomm_conformance.scenario_runner.steps import STEPS
from agentcomm_conformance.spec import statements
from agentcomm_conformance.targets import Target
from agentcomm_conformance.targets.in_process import InProcessTarget


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
