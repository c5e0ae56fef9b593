"""The values a hub hands out: messages, claims, replies, events, agents, statistics.

They are frozen records (``agentcomm.record.Record``: declared and used as frozen
dataclasses, with ``replace()`` and ``as_dict()``) so that every backend returns the same
shapes and the command line can print them as JSON with ``as_json()``.  Times are Unix epoch
seconds (floats) from the hub's clock.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from agentcomm.errors import InvalidInput
from agentcomm.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DEFAULT_QUEUE",
    "AgentInfo",
    "Claim",
    "Event",
    "Message",
    "Outgoing",
    "Priority",
    "Reply",
    "ReplyStatus",
    "Stats",
    "Status",
    "as_json",
]

DEFAULT_QUEUE = "ANY_AVAILABLE"
"""The shared task queue of the design document (``to_agent = 'ANY_AVAILABLE'``)."""


class Priority(enum.IntEnum):
    """Three levels, served strictly highest first (SPEC PRIO-001)."""

    LOW = 0
    NORMAL = 1
    HIGH = 2

    @classmethod
    def parse(cls, value: object) -> Priority:
        """Accept a Priority, its name (``"high"``) or its number (``2``)."""
        if isinstance(value, Priority):
            return value
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        text = value.strip() if isinstance(value, str) else ""
        if text.isascii() and text.lstrip("-").isdigit():
            value = int(text)
        if isinstance(value, int) and not isinstance(value, bool) and value in {0, 1, 2}:
            return cls(value)
        raise InvalidInput(f"priority {value!r} is not one of low/0, normal/1, high/2")


class Status(str, enum.Enum):
    """Where a message is in its life (the design's ``status`` column)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    DEAD = "dead"
    EXPIRED = "expired"

    @property
    def finished(self) -> bool:
        """Completed, dead or expired: the end of a message's life (SPEC LEASE-003)."""
        return self in FINISHED


FINISHED = frozenset({Status.COMPLETED, Status.DEAD, Status.EXPIRED})
"""The statuses a message never leaves (except a dead one, by ``replay``)."""

STATUS_BY_VALUE = {status.value: status for status in Status}
"""A stored status text to its member: a dict lookup costs a fraction of ``Status(text)``,
and the hubs read one for every message they return."""


class ReplyStatus(str, enum.Enum):
    """The design's ``response_status``."""

    SUCCESS = "success"
    ERROR = "error"

    @classmethod
    def parse(cls, value: object) -> ReplyStatus:
        """``"success"`` or ``"error"`` (or a member); ``InvalidInput`` otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise InvalidInput(f"reply status {value!r} is not 'success' or 'error'") from None


class Message(Record):
    """One message: a direct message, a request, or a task on a shared queue."""

    id: str
    from_agent: str
    to_agent: str
    type: str
    payload: Any
    status: Status
    priority: Priority
    created_at: float
    timeout_seconds: float
    retry_count: int
    max_retries: int
    correlation_id: str | None = None
    expires_at: float | None = None
    available_at: float = 0.0
    claimed_by: str | None = None
    last_error: str | None = None
    reply_id: str | None = None


class Outgoing(Record):
    """One message to send with ``Hub.send_many``; the fields mirror ``Hub.send``."""

    to: str
    type: str
    payload: Any
    priority: Priority | int | str = Priority.NORMAL
    timeout_seconds: float | None = None
    max_retries: int | None = None
    correlation_id: str | None = None
    expires_in: float | None = None


class Claim(Record):
    """A leased message: present ``token`` to extend, complete, reply, fail or release."""

    message: Message
    token: str
    lease_expires_at: float

    @property
    def id(self) -> str:
        return self.message.id


class Reply(Record):
    """A response to a request (the design's ``agent_responses`` row)."""

    id: str
    request_id: str
    from_agent: str
    to_agent: str
    payload: Any
    status: ReplyStatus
    created_at: float
    correlation_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is ReplyStatus.SUCCESS


class Event(Record):
    """A published event (the design's ``agent_events`` row)."""

    id: str
    event_type: str
    publisher: str
    payload: Any
    published_at: float
    expires_at: float | None = None


class AgentInfo(Record):
    """A registry entry; ``alive`` is judged from the last heartbeat and its TTL."""

    agent_id: str
    status: str
    last_heartbeat: float
    heartbeat_ttl: float
    alive: bool
    seconds_since_heartbeat: float
    process_id: int | None = None
    capabilities: tuple[str, ...] = ()
    current_load: int = 0
    max_concurrent: int = 5


class Stats(Record):
    """Queue depths per target and status, lifetime counters, and agent counts.

    ``depths[target]`` maps each status to a count, plus ``pending_high``,
    ``pending_normal`` and ``pending_low`` so starvation under strict priority shows.
    ``counters`` holds ``sent``, ``completed``, ``failed``, ``retried``, ``dead``,
    ``expired`` and ``published`` over the hub's lifetime.
    """

    depths: Mapping[str, Mapping[str, int]]
    counters: Mapping[str, int]
    agents_alive: int
    agents_known: int


PLAIN = frozenset({str, int, float, bool, type(None)})


def as_json(value: Any) -> Any:
    """Turn models (and lists of them) into plain JSON-ready values."""
    if type(value) in PLAIN:  # most fields: checked first, as Mapping's isinstance is slow
        return value
    if isinstance(value, Record):
        data = {name: as_json(field) for name, field in value.as_dict().items()}
        if isinstance(value, Claim):
            data["id"] = value.id
        return data
    if isinstance(value, enum.Enum):
        return value.name.lower() if isinstance(value, Priority) else value.value
    if isinstance(value, Mapping):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value
