"""An in-memory model of a hub, written from SPEC.md (agentcomm_conformance/protocol) alone.

``tests/test_model.py`` drives a real hub and this model side by side and compares them
after every step.  Nothing here calls the reference code: each transition is the
statement it cites (LEASE-*, RETRY-*, DLQ-*, PRIO-*, ORD-*, EXP-001/002, EVT-*).

Where the spec leaves the hub a choice, the model offers the allowed alternatives
(``spontaneous``) and the test adopts the one the hub shows:

* a claim *may* expire overdue pending messages (EXP-001), anywhere;
* a lapsed lease may be settled by any claim, not only one on its own target (CLAIM-005
  requires its own target; RETRY-002 times the retry from whichever claim settles it).

Messages are frozen records (``spec_records.py``); every transition
(``spec_transitions.py``) returns a ``Change`` (the new record and the lifetime counters
it moves, PRIO-004), which the model then applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TypeVar

from agentcomm import Outgoing, Priority, Status
from spec_records import UNKNOWN, Backoff, Change, ModelEvent, ModelMessage, Reading, Unknown
from spec_transitions import expire, settle

LAPSE_REASON = "lease expired"  # RETRY-001
LEVELS = ("low", "normal", "high")  # PRIO-001, PRIO-003
T = TypeVar("T")
COUNTERS = ("sent", "completed", "failed", "retried", "dead", "expired", "published")


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


class SpecModel:
    """Every message, dead letter, event and cursor of one hub, per the spec."""

    def __init__(self, policy: Backoff) -> None:
        self.policy = policy
        self.messages: dict[str, ModelMessage] = {}
        self.purged: set[str] = set()
        self.counters: Counter[str] = Counter()
        self.tokens: set[str] = set()
        self.events: list[ModelEvent] = []
        self.cursors: dict[str, dict[str, int]] = {}  # agent -> type -> next log index
        # message -> (reply, from, status); the reply UNKNOWN for the hub's answers (REQ-007)
        self.replies: dict[str, tuple[str | Unknown, str, str]] = {}
        self.epoch = 0  # the machine's step number: deaths in one step may tie
        self.sent = 0

    # -- reading ---------------------------------------------------------------------------
    def find(self, message_id: str) -> ModelMessage | None:
        return self.messages.get(message_id)

    def apply(self, change: Change) -> ModelMessage:
        self.messages[change.message.id] = change.message
        self.counters.update(change.counts)
        if change.answered_by is not None:
            self.replies[change.message.id] = (UNKNOWN, change.answered_by, "error")
        return change.message

    def dead_letters(self) -> list[ModelMessage]:
        """DLQ-001: dead messages in the order they died (ties: one atomic step)."""
        dead = [m for m in self.messages.values() if m.status is Status.DEAD]
        return sorted(dead, key=lambda m: (m.dead_epoch or 0, m.seq))

    def depths(self) -> dict[str, dict[str, int]]:
        """PRIO-003: per target, messages per status and pending ones per level."""
        found: dict[str, Counter[str]] = {}
        for m in self.messages.values():
            counts = found.setdefault(m.to_agent, Counter())
            counts[m.status.value] += 1
            if m.status is Status.PENDING:
                counts[f"pending_{LEVELS[m.priority]}"] += 1
        return {target: dict(counts) for target, counts in found.items()}

    # -- messages --------------------------------------------------------------------------
    def send(self, message_id: str, sender: str, item: Outgoing, now: float) -> ModelMessage:
        """ENV-003: the envelope a send must return, built from the request alone."""
        policy = self.policy
        m = ModelMessage(
            id=message_id,
            seq=self.sent,
            from_agent=sender,
            to_agent=item.to,
            type=item.type,
            payload=item.payload,
            priority=int(Priority.parse(item.priority)),
            timeout_seconds=_or(item.timeout_seconds, policy.default_timeout),
            max_retries=_or(item.max_retries, policy.default_max_retries),
            correlation_id=item.correlation_id,
            expires_at=None if item.expires_in is None else now + item.expires_in,
            created_at=now,
            available_at=now,
        )
        self.sent += 1
        self.counters["sent"] += 1
        self.messages[m.id] = m
        return m

    def claim_order(self, target: str, limit: int, now: float) -> list[ModelMessage]:
        """CLAIM-005 then ORD-001: settle the target's lapsed leases, then the best first."""
        for m in list(self.messages.values()):
            if m.to_agent == target and m.lapsed(now):
                self.apply(settle(m, now, LAPSE_REASON, self.policy, self.epoch))
        ready = [m for m in self.messages.values() if m.to_agent == target and m.claimable(now)]
        return sorted(ready, key=ModelMessage.rank)[:limit]

    def sweep(self, now: float) -> int:
        """EXP-002: settle every lapsed lease, expire every overdue pending message;
        returns how many messages changed (one settled and then expired counts once)."""
        settled: set[str] = set()
        expired: set[str] = set()
        for m in list(self.messages.values()):
            if m.lapsed(now):
                settled.add(self.apply(settle(m, now, LAPSE_REASON, self.policy, self.epoch)).id)
        for m in list(self.messages.values()):
            if m.status is Status.PENDING and m.overdue(now):
                expired.add(self.apply(expire(m)).id)
        return len(settled | expired)

    def spontaneous(self, m: ModelMessage, now: float) -> list[Change]:
        """What the hub may have done to ``m`` unasked (see the module docstring)."""
        if m.lapsed(now):
            settled = settle(m, now, LAPSE_REASON, self.policy, self.epoch)
            options = [settled]
            if settled.message.status is Status.PENDING and settled.message.overdue(now):
                expired = expire(settled.message)
                options.append(
                    Change(expired.message, dict(Counter(settled.counts) + Counter(expired.counts)))
                )
            return options
        if m.status is Status.PENDING and m.overdue(now):
            return [expire(m)]
        return []

    def purge(self, named: Iterable[str] | None) -> int:
        """DLQ-003: delete the named dead letters (all without names); count them."""
        pool = self.messages if named is None else named
        doomed = [i for i in pool if (m := self.messages.get(i)) and m.status is Status.DEAD]
        for message_id in doomed:
            del self.messages[message_id]
            self.replies.pop(message_id, None)  # the hub's answer goes with it (REQ-007)
            self.purged.add(message_id)
        return len(doomed)

    # -- events ------------------------------------------------------------------------------
    def subscribe(self, agent: str, event_type: str) -> None:
        """EVT-002: a new cursor at the end of the log; again, nothing changes."""
        self.cursors.setdefault(agent, {}).setdefault(event_type, len(self.events))

    def unsubscribe(self, agent: str, event_type: str) -> None:
        self.cursors.get(agent, {}).pop(event_type, None)

    def subscriptions(self, agent: str) -> list[str]:
        return sorted(self.cursors.get(agent, {}))

    def read_events(self, agent: str, limit: int, now: float) -> tuple[list[ModelEvent], Reading]:
        """EVT-003/004, ORD-002/003: the next unread, unexpired events in publish order,
        with the cursors reading them leaves (``commit`` applies those)."""
        cursors = self.cursors.get(agent, {})
        unread = [
            (i, e)
            for i, e in enumerate(self.events)
            if e.event_type in cursors and i >= cursors[e.event_type] and not e.expired(now)
        ][:limit]
        moved = dict(cursors)
        for i, e in unread:
            moved[e.event_type] = i + 1
        return [e for _, e in unread], Reading(agent, moved)

    def commit(self, reading: Reading) -> None:
        self.cursors[reading.agent] = dict(reading.cursors)
