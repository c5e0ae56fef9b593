"""The records of the spec's model (``spec_model.py``): messages, events, changes, backoff.

All are frozen: a transition (``spec_transitions.py``) never changes a record, it returns
the next one in a ``Change``, which ``SpecModel`` applies.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from agentcomm import Message, Status


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


@dataclasses.dataclass(frozen=True)
class Reading:
    """Where an agent's cursors stand after a read."""

    agent: str
    cursors: Mapping[str, int]
