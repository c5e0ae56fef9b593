"""What ``test_model.HubMachine`` draws, and how it compares the hub's answers with the model's.

The hub's options and the agents, queue and event types of every example; the strategies
the rules draw from; the lease operations a rule performs (``LeaseOp``) and the lease it
acts on (``LeasePick``); ``MachineState``, what the machine keeps, declared once for the
mixins it is made of (``model_checks.py``, ``model_events.py``); and the comparisons the
rules and checks make.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hypothesis import strategies as st

from agentcomm import AgentCommError, Hub, ManualClock, Message, Outgoing, Priority
from spec_model import SpecModel
from spec_records import Backoff, ModelEvent, ModelMessage
from spec_transitions import bury, finish, release, settle

if TYPE_CHECKING:  # the lease operations act on the machine, which imports them
    from test_model import HubMachine

T = TypeVar("T")
Outcome = type[Exception] | None

POLICY = Backoff(base=1.0, cap=8.0)
HUB_OPTIONS = "backoff_base=1&backoff_max=8"
AGENTS = ("@a", "@b")
QUEUE = "jobs"
EVENT_TYPES = ("built", "deployed")
UNKNOWN_ID = "999999999"  # well formed, never issued in an example this size
FORGED_TOKEN = "forged-token"  # noqa: S105 - no secret: a token no claim ever drew


# Lease and expiry times are whole seconds and time moves in halves, so deadlines are hit
# exactly ("at or after" is the spec's boundary).  Event TTLs end on quarters, never hit
# exactly: the spec does not say whether an event expires at or after its deadline.
outgoing = st.builds(
    Outgoing,
    to=st.sampled_from([QUEUE, QUEUE, *AGENTS]),
    type=st.just("task"),
    payload=st.integers(0, 9).map(lambda n: {"n": n, "text": 'it\'s "quoted"|\n'}),
    priority=st.sampled_from([Priority.LOW, Priority.NORMAL, Priority.HIGH, "high", 0]),
    timeout_seconds=st.sampled_from([None, 1.0, 3.0, 10.0]),
    max_retries=st.sampled_from([None, 0, 1, 2]),
    correlation_id=st.sampled_from([None, "c1"]),
    expires_in=st.sampled_from([None, None, 1.0, 2.0, 5.0, 20.0]),
)
agents = st.sampled_from(AGENTS)
picks = st.integers(min_value=0, max_value=1000)


class LeaseOp:
    """One of the operations a lease token allows (LEASE-001), as a rule's argument."""

    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        raise NotImplementedError

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        """Apply the spec's effect to the model and check what the hub returned."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Complete(LeaseOp):
    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        return machine.monitor.complete(message_id, token)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        machine.model.apply(finish(m, token))


@dataclasses.dataclass(frozen=True)
class Fail(LeaseOp):
    retry: bool
    reason: str

    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        return machine.monitor.fail(message_id, token, self.reason, retry=self.retry)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        """RETRY-001/002/003; ``fail`` returns the new state."""
        epoch = machine.model.epoch
        change = (
            settle(m, machine.now, self.reason, POLICY, epoch, token)
            if self.retry
            else bury(m, self.reason, epoch, token)
        )
        _agree(machine.model.apply(change), result, "fail")


@dataclasses.dataclass(frozen=True)
class Release(LeaseOp):
    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        return machine.monitor.release(message_id, token)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        _agree(machine.model.apply(release(m, machine.now)), result, "release")


@dataclasses.dataclass(frozen=True)
class Extend(LeaseOp):
    seconds: float | None

    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        return machine.monitor.extend(message_id, token, self.seconds)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        """LEASE-004: the same token, a deadline of now + seconds (default the timeout)."""
        until = machine.now + (m.timeout_seconds if self.seconds is None else self.seconds)
        machine.model.messages[m.id] = dataclasses.replace(m, lease_expires_at=until)
        assert (result.id, result.token, result.lease_expires_at) == (m.id, token, until), (
            f"LEASE-004: extend returned {result}, the spec says the deadline {until}"
        )


@dataclasses.dataclass(frozen=True)
class Answer(LeaseOp):
    agent: str
    status: str

    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        payload = {"ok": self.status}
        return machine.hubs[self.agent].reply(message_id, token, payload, status=self.status)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        """REQ-003: the reply is bound to the message and completes it in one step."""
        assert (
            result.request_id,
            result.from_agent,
            result.to_agent,
            result.correlation_id,
            result.status.value,
            result.payload,
        ) == (m.id, self.agent, m.from_agent, m.correlation_id, self.status, {"ok": self.status})
        machine.model.apply(finish(m, token, reply_id=result.id))
        machine.model.replies[m.id] = (result.id, self.agent, self.status)


@dataclasses.dataclass(frozen=True)
class LeasePick:
    """Which (message, token) a lease rule acts on, and how long its worker works first.

    ``fresh``: a claim made just now (so that every lease rule, not only ``claim``, leads
    somewhere when Hypothesis's swarm testing disables rules); ``live``: a current lease;
    ``old``: a token that is no longer its message's, the stale worker's; ``any``:
    anything ever granted, a forged token on a known message, or an id naming nothing.
    """

    kind: str
    index: int
    work: float = 0.0


sources = st.sampled_from([QUEUE, QUEUE, None])  # None: the agent's own inbox
lease_picks = st.builds(
    LeasePick,
    kind=st.sampled_from(["fresh", "live", "old", "any"]),
    index=picks,
    work=st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0]),
)


class MachineState:
    """What ``HubMachine`` keeps, declared for the mixins it is made of."""

    clock: ManualClock
    hubs: dict[str, Hub]
    monitor: Hub
    model: SpecModel

    @property
    def now(self) -> float:
        return self.clock.now()


def _send_one(hub: Hub, item: Outgoing) -> Message:
    return hub.send(
        item.to,
        item.type,
        item.payload,
        priority=item.priority,
        timeout_seconds=item.timeout_seconds,
        max_retries=item.max_retries,
        correlation_id=item.correlation_id,
        expires_in=item.expires_in,
    )


def _attempt(call: Callable[[], T]) -> tuple[Outcome, T | None]:
    """Run ``call``; return the error class it raised (None) and its result (None)."""
    try:
        return None, call()
    except AgentCommError as error:
        return type(error), None


def _same_outcome(outcome: Outcome, expected: Outcome, what: str) -> None:
    name = "success" if expected is None else expected.__name__
    got = "success" if outcome is None else outcome.__name__
    assert outcome is expected, f"LEASE-003: {what} gave {got}, the spec says {name}"


def _agree(expected: ModelMessage, seen: Message | None, what: str) -> None:
    assert seen is not None, what
    assert not expected.differences(seen), f"{what} returned {seen.id}: " + "; ".join(
        expected.differences(seen)
    )


def _event_view(event: Any) -> ModelEvent:
    return ModelEvent(
        event.id,
        event.event_type,
        event.publisher,
        event.payload,
        event.published_at,
        event.expires_at,
    )


def _nonzero(depths: Any) -> dict[str, dict[str, int]]:
    """Depths without zero counts or empty targets: an absent key means 0 (PRIO-003)."""
    found = {
        str(t): {str(k): int(n) for k, n in counts.items() if n} for t, counts in depths.items()
    }
    return {t: counts for t, counts in found.items() if counts}
