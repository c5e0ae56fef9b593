"""An in-memory model of a hub, written from SPEC.md (agentcomm_conformance/protocol) alone.

``tests/test_model.py`` drives a real hub and this model side by side and compares them
after every step.  Nothing here calls the reference code: each transition is the
statement it cites (LEASE-*, RETRY-*, DLQ-*, PRIO-*, ORD-*, EXP-001/002, EVT-*).

Where the spec leaves the hub a choice, the model offers the allowed alternatives
(``spontaneous``) and the test adopts the one the hub shows:

* a claim *may* expire overdue pending messages (EXP-001), anywhere;
* a lapsed lease may be settled by any claim, not only one on its own target (CLAIM-005
  requires its own target; RETRY-002 times the retry from whichever claim settles it).

Messages are frozen records; every transition returns a ``Change`` (the new record and
the lifetime counters it moves, PRIO-004), which the model then applies.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from agentcomm import AlreadyFinished, Message, NotFound, Outgoing, Priority, StaleLease, Status

LAPSE_REASON = "lease expired"  # RETRY-001
LEVELS = ("low", "normal", "high")  # PRIO-001, PRIO-003
T = TypeVar("T")
COUNTERS = ("sent", "completed", "failed", "retried", "dead", "expired", "published")


class Unknown(enum.Enum):
    """A field the spec leaves open (``last_error`` after a replay, DLQ-002), or one the
    hub chooses (the id of the reply it gives a request that died, REQ-007)."""

    VALUE = "unknown"


UNKNOWN = Unknown.VALUE


@dataclasses.dataclass(frozen=True)
class ModelMessage:
    """A message as the spec says it stands, plus the lease the model knows of."""

    id: str
    seq: int  # send order (ORD-001): the place it keeps through retries and replays
    from_agent: str
    to_agent: str
    type: str
    payload: Any
    priority: int
    timeout_seconds: float
    max_retries: int
    correlation_id: str | None
    expires_at: float | None
    created_at: float
    available_at: float
    status: Status = Status.PENDING
    retry_count: int = 0
    claimed_by: str | None = None
    token: str | None = None  # the current lease token, while processing
    lease_expires_at: float | None = None
    finish_token: str | None = None  # the token that finished it (LEASE-003)
    last_error: str | Unknown | None = None
    reply_id: str | Unknown | None = None
    dead_epoch: int | None = None  # the model step it died in (DLQ-001 order)
    deliveries: int = 0  # claims since send or replay, releases not counted

    def claimable(self, now: float) -> bool:
        """CLAIM-001: pending, available, not overdue."""
        return self.status is Status.PENDING and self.available_at <= now and not self.overdue(now)

    def overdue(self, now: float) -> bool:
        """EXP-001: a deadline at or before now."""
        return self.expires_at is not None and self.expires_at <= now

    def lapsed(self, now: float) -> bool:
        """LEASE-002: a lease is over at or after its deadline."""
        return (
            self.status is Status.PROCESSING
            and self.lease_expires_at is not None
            and now >= self.lease_expires_at
        )

    def rank(self) -> tuple[int, int]:
        """ORD-001: highest priority first, then send order."""
        return (-self.priority, self.seq)

    def visible(self) -> dict[str, Any]:
        """The fields of ``get()`` the spec fixes in this state, by name."""
        shown: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "id",
                "from_agent",
                "to_agent",
                "type",
                "payload",
                "priority",
                "timeout_seconds",
                "max_retries",
                "correlation_id",
                "expires_at",
                "status",
                "retry_count",
                "reply_id",
            )
        }
        if self.status is Status.PENDING:
            shown["available_at"] = self.available_at
        if self.status in (Status.PENDING, Status.PROCESSING):
            shown["claimed_by"] = self.claimed_by
        if self.last_error is not UNKNOWN:
            shown["last_error"] = self.last_error
        if self.reply_id is UNKNOWN:
            del shown["reply_id"]
        return shown

    def is_request(self) -> bool:
        """REQ-001: a correlation id and a deadline."""
        return self.correlation_id is not None and self.expires_at is not None

    def differences(self, seen: Message) -> list[str]:
        """Each field where the hub's ``seen`` disagrees, as readable text."""
        found = [
            f"{name}: hub {getattr(seen, name)!r}, spec {value!r}"
            for name, value in self.visible().items()
            if getattr(seen, name) != value
        ]
        if self.reply_id is UNKNOWN and seen.reply_id is None:
            found.append("reply_id: hub None, spec the hub's answer (REQ-007)")
        if abs(seen.created_at - self.created_at) > 0.001:  # ENV-003: to the millisecond
            found.append(f"created_at: hub {seen.created_at!r}, spec {self.created_at!r}")
        return found


@dataclasses.dataclass(frozen=True)
class Change:
    """A message's next state and the lifetime counters that moved to reach it."""

    message: ModelMessage
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    answered_by: str | None = None  # REQ-007: the hub answered a dying request, from him


@dataclasses.dataclass(frozen=True)
class ModelEvent:
    id: str
    event_type: str
    publisher: str
    payload: Any
    published_at: float
    expires_at: float | None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclasses.dataclass(frozen=True)
class Backoff:
    """RETRY-002 and the hub options the model was told about."""

    base: float
    cap: float
    default_timeout: float = 300.0
    default_max_retries: int = 3

    def delay(self, retry_count: int) -> float:
        return float(min(self.base * 2**retry_count, self.cap))


# -- transitions: one function per statement -------------------------------------------------


def settle(
    m: ModelMessage, now: float, reason: str, policy: Backoff, epoch: int, token: str | None = None
) -> Change:
    """RETRY-001/002: back to pending after a backoff while retries remain, else dead.

    ``token`` is the holder's when it failed the message itself (its token then finishes
    the message, LEASE-003); None for a lapse, whose holder is merely stale."""
    if m.retry_count < m.max_retries:
        again = dataclasses.replace(
            m,
            status=Status.PENDING,
            retry_count=m.retry_count + 1,
            last_error=reason,
            available_at=now + policy.delay(m.retry_count),
            **_no_lease(),
        )
        return Change(again, {"failed": 1, "retried": 1})
    return bury(m, reason, epoch, token)


def bury(m: ModelMessage, reason: str, epoch: int, token: str | None) -> Change:
    """RETRY-001 at the budget's end, RETRY-003: dead with the reason; a request is
    answered by the hub in the same step (REQ-007)."""
    answer = m.is_request() and m.reply_id is None
    dead = dataclasses.replace(
        m,
        status=Status.DEAD,
        last_error=reason,
        dead_epoch=epoch,
        finish_token=token,
        token=None,
        lease_expires_at=None,
        reply_id=UNKNOWN if answer else m.reply_id,
    )
    return Change(dead, {"failed": 1, "dead": 1}, m.claimed_by if answer else None)


def expire(m: ModelMessage) -> Change:
    """EXP-001: an overdue pending message expires."""
    return Change(dataclasses.replace(m, status=Status.EXPIRED, **_no_lease()), {"expired": 1})


def grant(m: ModelMessage, agent: str, token: str, now: float) -> Change:
    """CLAIM-003: processing, claimed by the caller, leased for its timeout."""
    leased = dataclasses.replace(
        m,
        status=Status.PROCESSING,
        claimed_by=agent,
        token=token,
        finish_token=None,
        lease_expires_at=now + m.timeout_seconds,
        deliveries=m.deliveries + 1,
    )
    return Change(leased)


def finish(m: ModelMessage, token: str, reply_id: str | None = None) -> Change:
    """LEASE-001, REQ-003: completed by the holder, once."""
    done = dataclasses.replace(
        m,
        status=Status.COMPLETED,
        finish_token=token,
        token=None,
        lease_expires_at=None,
        reply_id=reply_id,
    )
    return Change(done, {"completed": 1})


def release(m: ModelMessage, now: float) -> Change:
    """LEASE-005: pending at once, retry count and last error kept, no delivery spent."""
    back = dataclasses.replace(
        m, status=Status.PENDING, available_at=now, deliveries=m.deliveries - 1, **_no_lease()
    )
    return Change(back)


def replay(m: ModelMessage, now: float) -> Change:
    """DLQ-002: pending now, fresh budget, no deadline, same place in claim order."""
    again = dataclasses.replace(
        m,
        status=Status.PENDING,
        retry_count=0,
        available_at=now,
        expires_at=None,
        last_error=UNKNOWN,
        dead_epoch=None,
        finish_token=None,
        deliveries=0,
        **_no_lease(),
    )
    return Change(again)


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _no_lease() -> dict[str, Any]:
    return {"claimed_by": None, "token": None, "lease_expires_at": None}


def lease_refusal(m: ModelMessage | None, token: str, now: float) -> type[Exception] | None:
    """LEASE-003's fixed order: NotFound, StaleLease, AlreadyFinished, StaleLease."""
    if m is None:
        return NotFound
    if token not in (m.token, m.finish_token):
        return StaleLease
    if m.status in (Status.COMPLETED, Status.DEAD, Status.EXPIRED):
        return AlreadyFinished
    if m.status is not Status.PROCESSING or m.lapsed(now):
        return StaleLease
    return None


# -- the model ---------------------------------------------------------------------------------


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


@dataclasses.dataclass(frozen=True)
class Reading:
    """Where an agent's cursors stand after a read."""

    agent: str
    cursors: Mapping[str, int]
