"""Rows of the hub's tables turned into the contract's models, and times both ways."""

from __future__ import annotations

import datetime
import functools
import json
import sqlite3
import time

from agentcomm.models import (
    STATUS_BY_VALUE,
    AgentInfo,
    Claim,
    Event,
    Message,
    Priority,
    Reply,
    ReplyStatus,
)
from agentcomm.settings import HubSettings
from agentcomm.validation import decode_payload

MESSAGE_COLUMNS = (
    "id, from_agent, to_agent, message_type, payload, status, priority, created_at,"
    " timeout_seconds, retry_count, max_retries, correlation_id, expires_at, available_at,"
    " claimed_by, last_error, response_id, lease_token, lease_expires_at"
)
_AT = {name.strip(): i for i, name in enumerate(MESSAGE_COLUMNS.split(","))}
ID, PRIORITY, LEASE_EXPIRES_AT = _AT["id"], _AT["priority"], _AT["lease_expires_at"]
"""Positions in a row of ``MESSAGE_COLUMNS``, which are read by position (``message``)."""


def iso(ts: float) -> str:
    """UTC text in the design's DATETIME form, with milliseconds.

    Truncated, never rounded up: a time read back must not lie in the future.
    """
    whole = int(ts)
    millis = min(int((ts - whole) * 1000), 999)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{millis:03d}"


_EPOCH = datetime.datetime(1970, 1, 1)


@functools.lru_cache(maxsize=1024)  # a batch, or a busy millisecond, shares one text
def from_iso(text: str | None) -> float:
    """Read the design's DATETIME text (with or without fraction) back as epoch seconds."""
    if not text:
        return 0.0
    parsed = datetime.datetime.fromisoformat(str(text))
    if parsed.tzinfo is not None:  # not the design's form, but a clear enough time
        return parsed.timestamp()
    return (parsed - _EPOCH).total_seconds()


def message(row: sqlite3.Row) -> Message:
    """A row of ``MESSAGE_COLUMNS`` (every statement that reads messages selects those).

    By position and unchecked: reading 17 columns by name and checking the record's
    fields cost as much as the rest of a batch claim (BENCHMARKS.md).  A row of other
    columns fails to unpack."""
    (
        message_id,
        from_agent,
        to_agent,
        message_type,
        payload,
        status,
        priority,
        created_at,
        timeout_seconds,
        retry_count,
        max_retries_stored,
        correlation_id,
        expires_at,
        available_at,
        claimed_by,
        last_error,
        response_id,
        _lease_token,
        _lease_expires_at,
    ) = row
    return Message._unchecked(
        {
            "id": str(message_id),
            "from_agent": from_agent,
            "to_agent": to_agent,
            "type": message_type,
            "payload": decode_payload(payload),
            "status": STATUS_BY_VALUE[status],
            "priority": _priority(priority),
            "created_at": from_iso(created_at),
            "timeout_seconds": float(timeout_seconds or HubSettings.default_timeout),
            "retry_count": int(retry_count or 0),
            "max_retries": max_retries(max_retries_stored),
            "correlation_id": correlation_id,
            "expires_at": expires_at,
            "available_at": float(available_at or 0),
            "claimed_by": claimed_by,
            "last_error": last_error,
            "reply_id": None if response_id is None else str(response_id),
        }
    )


def claim(row: sqlite3.Row, token: str) -> Claim:
    """The claim a row of ``MESSAGE_COLUMNS`` holds under ``token``."""
    return Claim._unchecked(
        {"message": message(row), "token": token, "lease_expires_at": float(row[LEASE_EXPIRES_AT])}
    )


def max_retries(stored: int | None) -> int:
    """A row's retry budget: a row the design's own INSERT made may have none (the default)."""
    return int(stored if stored is not None else HubSettings.default_max_retries)


def reply(row: sqlite3.Row) -> Reply:
    return Reply(
        id=str(row["id"]),
        request_id=str(row["request_id"]),
        from_agent=row["from_agent"],
        to_agent=row["to_agent"],
        payload=decode_payload(row["response_payload"]),
        status=ReplyStatus(row["response_status"]),
        created_at=from_iso(row["created_at"]),
        correlation_id=row["correlation_id"],
    )


def event(row: sqlite3.Row) -> Event:
    expires = row["expires_at"]
    return Event(
        id=str(row["id"]),
        event_type=row["event_type"],
        publisher=row["publisher"],
        payload=decode_payload(row["payload"]),
        published_at=from_iso(row["published_at"]),
        expires_at=None if expires is None else from_iso(expires),
    )


def agent(row: sqlite3.Row, now: float) -> AgentInfo:
    last = from_iso(row["last_heartbeat"])
    ttl = float(row["heartbeat_ttl"])
    age = max(0.0, now - last)
    return AgentInfo(
        agent_id=row["agent_id"],
        status=row["status"],
        last_heartbeat=last,
        heartbeat_ttl=ttl,
        alive=row["status"] == "active" and age < ttl,
        seconds_since_heartbeat=round(age, 3),
        process_id=row["process_id"],
        capabilities=tuple(json.loads(row["capabilities"] or "[]")),
        current_load=int(row["current_load"] or 0),
        max_concurrent=int(row["max_concurrent"] or 0),
    )


_LEVELS = (Priority.LOW, Priority.NORMAL, Priority.HIGH)


def _priority(value: object) -> Priority:
    # Rows written by the design's own scripts may carry other numbers (its example uses 5):
    # read them as the nearest level rather than failing the whole read.
    number = int(value) if isinstance(value, (int, float)) else 1
    return _LEVELS[min(max(number, 0), 2)]
