"""Redis hashes and stream entries turned into the contract's models.

Hashes keep the SQLite hub's column names (COMPAT-003), so the two backends describe a
message with the same words; times are epoch seconds as text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agentcomm.models import (
    STATUS_BY_VALUE,
    AgentInfo,
    Event,
    Message,
    Priority,
    Reply,
    ReplyStatus,
)
from agentcomm.validation import decode_payload

Flat = Sequence[str]


def as_dict(flat: Flat) -> dict[str, str]:
    """A flat HGETALL reply (``[field, value, ...]``) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


MESSAGE_DEFAULTS = {"retry_count": "0"}
"""Fields a message record leaves out until they change; ``available_at`` is absent
until a retry sets it, and means ``created_at`` then (send.lua)."""


def message(message_id: str, h: dict[str, str]) -> Message:
    """The message of record ``h`` (built unchecked: see ``Record._unchecked``)."""
    get = h.get
    return Message._unchecked(
        {
            "id": message_id,
            "from_agent": h["from_agent"],
            "to_agent": h["to_agent"],
            "type": h["message_type"],
            "payload": decode_payload(h["payload"]),
            "status": STATUS_BY_VALUE[h["status"]],
            "priority": _priority(h["priority"]),
            "created_at": float(h["created_at"]),
            "timeout_seconds": float(h["timeout_seconds"]),
            "retry_count": int(get("retry_count", MESSAGE_DEFAULTS["retry_count"])),
            "max_retries": int(h["max_retries"]),
            "correlation_id": get("correlation_id"),
            "expires_at": _time(get("expires_at")),
            "available_at": float(get("available_at") or h["created_at"]),
            "claimed_by": get("claimed_by"),
            "last_error": get("last_error"),
            "reply_id": get("response_id"),
        }
    )


def reply(h: dict[str, str]) -> Reply:
    return Reply(
        id=h["id"],
        request_id=h["request_id"],
        from_agent=h["from_agent"],
        to_agent=h["to_agent"],
        payload=decode_payload(h["response_payload"]),
        status=ReplyStatus(h["response_status"]),
        created_at=float(h["created_at"]),
        correlation_id=h.get("correlation_id") or None,
    )


def event(row: Flat) -> Event:
    """One event as read_events returns it: id, type, publisher, payload, times."""
    event_id, kind, publisher, payload, published, expires = row
    return Event(
        event_id, kind, publisher, decode_payload(payload), float(published), _time(expires)
    )


def stream_event(kind: str, entry_id: str, h: dict[str, str]) -> Event:
    """One entry of the stream ``event:<kind>``."""
    return Event(
        entry_id.partition("-")[0],
        kind,
        h["publisher"],
        decode_payload(h["payload"]),
        float(h["published_at"]),
        _time(h.get("expires_at")),
    )


def agent(agent_id: str, h: dict[str, str], now: float) -> AgentInfo:
    last = float(h["last_heartbeat"])
    ttl = float(h["heartbeat_ttl"])
    age = max(0.0, now - last)
    pid = h.get("process_id")
    return AgentInfo(
        agent_id=agent_id,
        status=h["status"],
        last_heartbeat=last,
        heartbeat_ttl=ttl,
        alive=h["status"] == "active" and age < ttl,
        seconds_since_heartbeat=round(age, 3),
        process_id=None if pid is None else int(pid),
        capabilities=tuple(json.loads(h.get("capabilities") or "[]")),
        current_load=int(h.get("current_load") or 0),
        max_concurrent=int(h.get("max_concurrent") or 0),
    )


_PRIORITIES = {str(level.value): level for level in Priority}
"""A priority as send.lua writes it, to its member (a lookup, as ``STATUS_BY_VALUE``)."""


def _priority(text: str) -> Priority:
    try:
        return _PRIORITIES[text]
    except KeyError:  # not as send.lua writes it
        return Priority(int(text))


def _time(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)
