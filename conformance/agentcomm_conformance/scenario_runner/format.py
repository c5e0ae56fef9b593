"""The scenario file format (``scenarios/README.md``, ``scenarios/schema.json``) as the
runner reads it: its vocabulary, and ``load_case``, which checks a case before it runs.

The schema says the same more formally; these checks give a runner without a JSON Schema
library messages that name the file and the step (``tests/test_scenario_files.py`` keeps
the two in agreement).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from agentcomm_conformance.scenario_runner.behave import (
    BEHAVIOURS,
    EVENTS,
    MESSAGES,
    BadBehaviour,
    parse_behaviour,
)
from agentcomm_conformance.spec import statements

Fields = tuple[frozenset[str], frozenset[str]]


def _fields(required: str, optional: str = "") -> Fields:
    return frozenset(required.split()), frozenset(optional.split())


HUB_OPTIONS = frozenset(
    {
        "max_payload_bytes",
        "default_timeout",
        "default_max_retries",
        "backoff_base",
        "backoff_max",
        "heartbeat_ttl",
        "retain_finished",
        "retain_events",
        "poll_interval",
    }
)
"""The hub options of SPEC "Hub options" a case may set."""
CASE_FIELDS = _fields("id title requirements steps", "description hub agents")
AGENT_FIELDS = _fields("behaviour", "id role count handles queues subscribes heartbeat start")
STEP_FIELDS: dict[str, Fields] = {
    "send": _fields(
        "as to type payload name", "priority timeout_seconds max_retries expires_in repeat"
    ),
    "request": _fields("as to type payload name timeout", "priority correlation_id reply raises"),
    "publish": _fields("as type payload name", "ttl"),
    "subscribe": _fields("as type"),
    "replay": _fields("message"),
    "sweep": _fields(""),
}
AGENT_STEPS = frozenset({"start", "stop", "kill"})
"""Steps whose value is a list of agent ids or roles."""
CHECK_STEPS = frozenset({"wait_until", "expect"})
"""Steps whose value is a list of expectations."""
STEP_KINDS = frozenset(STEP_FIELDS) | AGENT_STEPS | CHECK_STEPS
EXPECTATION_FIELDS: dict[str, Fields] = {
    "message": _fields("", "status retry_count claimed_by last_error_contains"),
    "reply": _fields("", "exists payload status from"),
    "dead_letters": _fields(""),
    "received": _fields("", "messages events"),
    "runs": _fields("count", "by gaps_at_least"),
    "agent": _fields("", "alive status process"),
    "depth": _fields("", "pending processing completed dead expired"),
}
EXPECTATION_KINDS = frozenset(EXPECTATION_FIELDS)
REQUEST_ERRORS = frozenset({"DeadlineExceeded"})
REPLY_FIELDS = _fields("", "payload status from")
"""What a request step may expect of its reply."""


class ScenarioError(Exception):
    """A case file that cannot be run: its message names the file and the step."""


class StepFailed(Exception):
    """What a step found instead of what it expected (the runner adds file and step)."""


@dataclasses.dataclass(frozen=True)
class AgentSpec:
    id: str
    behaviour: Any
    handles: tuple[str, ...]
    queues: tuple[str, ...]
    subscribes: tuple[str, ...]
    heartbeat: float
    start: bool
    role: str | None


@dataclasses.dataclass(frozen=True)
class Case:
    path: Path
    label: str
    id: str
    requirements: tuple[str, ...]
    hub: dict[str, float]
    agents: tuple[AgentSpec, ...]
    steps: tuple[tuple[str, Any], ...]


def load_case(path: Path, label: str | None = None) -> Case:
    """Read and check one case file; ``ScenarioError`` names the file and what is wrong."""
    label = label or str(path)
    data = read_case_data(path, label)
    try:
        return _Loader(path, label).case(data)
    except StepFailed as exc:
        where = " " if str(exc).startswith("step ") else ": "  # file step N (kind): ...
        raise ScenarioError(f"{label}{where}{exc}") from None


def read_case_data(path: Path, label: str) -> Any:
    import yaml  # here, not at the top: the plugin loads in runs that read no case

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{label}: cannot be read: {exc}") from None


class _Loader:
    """Checks a case as the runner will run it; the schema says the same, more formally."""

    def __init__(self, path: Path, label: str) -> None:
        self.path, self.label = path, label
        self.agent_ids: dict[str, list[str]] = {}
        self.messages: set[str] = set()
        self.events: set[str] = set()

    def case(self, data: Any) -> Case:
        _check_fields("the case", data, CASE_FIELDS)
        if not isinstance(data["id"], str) or data["id"] != self.path.stem:
            raise StepFailed(
                f"id {data['id']!r} must be the file name without .yaml ({self.path.stem!r})"
            )
        requirements = self._requirements(data["requirements"])
        hub = self._hub(data.get("hub", {}))
        agents = tuple(
            a for raw in _list("agents", data.get("agents", [])) for a in self._agents(raw)
        )
        steps = tuple(self._step(n, raw) for n, raw in enumerate(_list("steps", data["steps"]), 1))
        if not steps:
            raise StepFailed("a case needs at least one step")
        return Case(self.path, self.label, data["id"], requirements, hub, agents, steps)

    def _requirements(self, raw: Any) -> tuple[str, ...]:
        known = statements()
        ids = tuple(_list("requirements", raw))
        unknown = [i for i in ids if i not in known]
        if not ids or unknown:
            raise StepFailed(f"requirements must name SPEC statements; unknown: {unknown}")
        return ids

    def _hub(self, raw: Any) -> dict[str, float]:
        if not isinstance(raw, dict):
            raise StepFailed("hub must be a mapping of hub options")
        for name, value in raw.items():
            if name not in HUB_OPTIONS or not _is_number(value):
                raise StepFailed(
                    f"hub option {name}={value!r}: options are numbers, "
                    f"one of {', '.join(sorted(HUB_OPTIONS))}"
                )
        return dict(raw)

    def _agents(self, raw: Any) -> list[AgentSpec]:
        _check_fields("an agent", raw, AGENT_FIELDS)
        if ("id" in raw) == ("role" in raw) or ("count" in raw) != ("role" in raw):
            raise StepFailed(f"agent {raw!r} needs either id, or role and count")
        ref = raw.get("id") or raw["role"]
        count = raw.get("count", 1)
        if not isinstance(ref, str) or not ref.startswith("@") or ref in self.agent_ids:
            raise StepFailed(f"agent {ref!r} must be a new @name")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise StepFailed(f"agent role {ref!r}: count {count!r} is not a positive integer")
        ids = [ref] if "id" in raw else [f"{ref}.{i}" for i in range(1, count + 1)]
        self.agent_ids[ref] = ids
        for agent in ids:
            self.agent_ids.setdefault(agent, [agent])
        spec = self._agent_spec(raw, ref)
        return [dataclasses.replace(spec, id=agent) for agent in ids]

    def _agent_spec(self, raw: dict[str, Any], ref: str) -> AgentSpec:
        try:
            name, _param = parse_behaviour(raw["behaviour"])
        except BadBehaviour as exc:
            raise StepFailed(f"agent {ref}: {exc}") from None
        handles = tuple(_list("handles", raw.get("handles", [])))
        subscribes = tuple(_list("subscribes", raw.get("subscribes", [])))
        serves = BEHAVIOURS[name][1]
        if (handles and MESSAGES not in serves) or (subscribes and EVENTS not in serves):
            raise StepFailed(
                f"agent {ref}: behaviour {name!r} handles {' and '.join(sorted(serves))} only"
            )
        heartbeat = raw.get("heartbeat", 0.5)
        if not _is_number(heartbeat) or heartbeat <= 0:
            raise StepFailed(f"agent {ref}: heartbeat {heartbeat!r} is not a positive number")
        return AgentSpec(
            ref,
            raw["behaviour"],
            handles,
            tuple(_list("queues", raw.get("queues", []))),
            subscribes,
            float(heartbeat),
            raw.get("start", True) is not False,
            raw.get("role"),
        )

    def _step(self, number: int, raw: Any) -> tuple[str, Any]:
        kind = next(iter(raw), "?") if isinstance(raw, dict) and len(raw) == 1 else None
        if kind not in STEP_KINDS:
            raise StepFailed(
                f"step {number}: a step is one of {', '.join(sorted(STEP_KINDS))}"
                f" with its arguments, not {raw!r}"
            )
        try:
            self._check_step(kind, raw[kind])
        except StepFailed as exc:
            raise StepFailed(f"step {number} ({kind}): {exc}") from None
        return kind, raw[kind]

    def _check_step(self, kind: str, args: Any) -> None:
        if kind in AGENT_STEPS:
            for ref in _list(kind, args):
                self._agent_ref(ref)
        elif kind in CHECK_STEPS:
            if not _list(kind, args):
                raise StepFailed("needs at least one expectation")
            for expectation in args:
                self._expectation(expectation)
        else:
            _check_fields(kind, args, STEP_FIELDS[kind])
            self._names(kind, args)

    def _names(self, kind: str, args: dict[str, Any]) -> None:
        if kind == "replay":
            self._message_ref(args["message"])
        if kind == "request" and args.get("raises") not in {None, *REQUEST_ERRORS}:
            raise StepFailed(f"raises {args['raises']!r}: one of {sorted(REQUEST_ERRORS)}")
        if kind == "request" and "reply" in args:
            if "raises" in args:
                raise StepFailed("a request expects a reply or raises, not both")
            _check_fields("reply", args["reply"], REPLY_FIELDS)
        if "name" not in args:
            return
        name = args["name"]
        if not isinstance(name, str) or name in self.messages | self.events:
            raise StepFailed(f"name {name!r} must be a new string")
        (self.events if kind == "publish" else self.messages).add(name)

    def _expectation(self, raw: Any) -> None:
        kinds = [k for k in raw if k in EXPECTATION_KINDS] if isinstance(raw, dict) else []
        if len(kinds) != 1:
            raise StepFailed(
                f"an expectation names one of {', '.join(sorted(EXPECTATION_KINDS))}, not {raw!r}"
            )
        kind = kinds[0]
        required, optional = EXPECTATION_FIELDS[kind]
        _check_fields(f"expectation {kind!r}", raw, (required | {kind}, optional))
        if kind == "received" and ("messages" in raw) == ("events" in raw):
            raise StepFailed("expectation 'received' takes messages or events (one of them)")
        if len(raw.get("gaps_at_least", [])) >= raw.get("count", 1):
            raise StepFailed("gaps_at_least gives one gap between each two runs: count - 1")
        self._expectation_names(kind, raw)

    def _expectation_names(self, kind: str, raw: dict[str, Any]) -> None:
        """Every agent, message and event an expectation names must exist by then."""
        refs = {
            "message": self._message_ref,
            "reply": self._message_ref,
            "runs": self._message_ref,
            "agent": self._agent_ref,
            "received": self._one_agent,
        }
        if kind in refs:
            refs[kind](raw[kind])
        for ref in _list("by", raw.get("by", [])):
            self._agent_ref(ref)
        for name in _list("messages", raw.get("messages", [])):
            self._message_ref(name)
        for name in _list("events", raw.get("events", [])):
            if name not in self.events:
                raise StepFailed(f"no event named {name!r} was published before this step")
        for letter in _list("dead_letters", raw.get("dead_letters", [])):
            _check_fields("a dead letter", letter, _fields("message", "reason_contains"))
            self._message_ref(letter["message"])

    def _message_ref(self, name: Any) -> None:
        if name not in self.messages:
            raise StepFailed(f"no message named {name!r} was sent before this step")

    def _agent_ref(self, ref: Any) -> None:
        if ref not in self.agent_ids:
            raise StepFailed(f"{ref!r} is not an agent or role of this case")

    def _one_agent(self, ref: Any) -> None:
        self._agent_ref(ref)
        if self.agent_ids[ref] != [ref]:
            raise StepFailed(f"{ref!r} is a role; name one of its agents")


def _check_fields(where: str, raw: Any, fields: Fields) -> None:
    required, optional = fields
    if not isinstance(raw, dict):
        raise StepFailed(f"{where} must be a mapping, not {raw!r}")
    missing = sorted(required - raw.keys())
    unknown = sorted(raw.keys() - required - optional)
    if missing or unknown:
        raise StepFailed(
            f"{where}: "
            + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else [])
                + (
                    [
                        f"unknown field {', '.join(map(repr, unknown))} (known: "
                        f"{', '.join(sorted(required | optional))})"
                    ]
                    if unknown
                    else []
                )
            )
        )


def _list(where: str, raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise StepFailed(f"{where} must be a list, not {raw!r}")
    return raw


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
