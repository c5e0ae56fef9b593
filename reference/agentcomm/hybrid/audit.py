"""The audit file of a hybrid hub: the ``sqlite`` hub's layout, filled from Redis.

The file is opened with the SQLite hub's ``Store``, so it gets the same schema, mode
0600, WAL and migrations.  Rows keep the Redis ids.  The design's DATETIME columns get
its UTC text (``rows.iso``); the columns agentcomm added get epoch seconds.  Every write
is an upsert of the object's current state, so recording it twice changes nothing; rows
are never deleted, except a subscription's on unsubscribe, since ``agent_subscriptions``
lists the subscriptions in force.  A purged or pruned object keeps its last row.

Messages carry Redis's revision (``rev``, bumped by every change) in ``audit_rev``, a
column only audit files have: an upsert applies only when it is newer than the row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

from agentcomm.hybrid.outbox import Hash, State
from agentcomm.redis.records import MESSAGE_DEFAULTS
from agentcomm.sqlite.rows import iso
from agentcomm.sqlite.store import Store

Convert = Callable[[str | None], object]


def _text(value: str | None) -> str | None:
    return value


def _datetime(value: str | None) -> str | None:
    """The design's DATETIME text, from Redis's epoch seconds."""
    return None if value in (None, "") else iso(float(value))


def _epoch(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


def _integer(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)


MESSAGE_COLUMNS: dict[str, Convert] = {
    "from_agent": _text,
    "to_agent": _text,
    "message_type": _text,
    "payload": _text,
    "status": _text,
    "priority": _integer,
    "created_at": _datetime,
    "processed_at": _datetime,
    "response_id": _integer,
    "timeout_seconds": _epoch,
    "retry_count": _integer,
    "max_retries": _integer,
    "correlation_id": _text,
    "expires_at": _epoch,
    "available_at": _epoch,
    "claimed_by": _text,
    "last_error": _text,
    "lease_token": _text,
    "lease_expires_at": _epoch,
    "finished_at": _epoch,
    "dead_order": _integer,
}
"""The message hash's fields, which are the table's column names, and their types."""

REPLY_COLUMNS: dict[str, Convert] = {
    "request_id": _integer,
    "from_agent": _text,
    "to_agent": _text,
    "response_payload": _text,
    "response_status": _text,
    "created_at": _datetime,
}

EVENT_COLUMNS: dict[str, Convert] = {
    "publisher": _text,
    "payload": _text,
    "published_at": _datetime,
    "expires_at": _datetime,
}

AGENT_COLUMNS: dict[str, Convert] = {
    "status": _text,
    "last_heartbeat": _datetime,
    "process_id": _integer,
    "capabilities": _text,
    "current_load": _integer,
    "max_concurrent": _integer,
    "heartbeat_ttl": _epoch,
}


def _insert(table: str, columns: list[str], key: str, action: str) -> str:
    """``INSERT ... ON CONFLICT (key) action``, every value a named parameter."""
    return (
        f"INSERT INTO {table} ({', '.join(columns)})"
        f" VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT ({key}) {action}"
    )


def _update_all(columns: list[str], key: str) -> str:
    """The conflict action that overwrites every column but the key."""
    return "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)


_MESSAGE = ["id", *MESSAGE_COLUMNS, "audit_rev"]
UPSERT_MESSAGE = _insert(
    "agent_messages",
    _MESSAGE,
    "id",
    _update_all(_MESSAGE, "id") + " WHERE excluded.audit_rev > agent_messages.audit_rev",
)
INSERT_REPLY = _insert("agent_responses", ["id", *REPLY_COLUMNS], "id", "DO NOTHING")
INSERT_EVENT = _insert("agent_events", ["id", "event_type", *EVENT_COLUMNS], "id", "DO NOTHING")
_AGENT = ["agent_id", *AGENT_COLUMNS]
UPSERT_AGENT = _insert("agent_registry", _AGENT, "agent_id", _update_all(_AGENT, "agent_id"))
UPSERT_CURSOR = _insert(
    "agent_subscriptions",
    ["agent_id", "event_type", "created_at", "last_event_id"],
    "agent_id, event_type",
    "DO UPDATE SET last_event_id = excluded.last_event_id",
)
DELETE_CURSOR = "DELETE FROM agent_subscriptions WHERE agent_id = ? AND event_type = ?"
# Counters only grow, so a smaller value is an older reading.
UPSERT_COUNTER = _insert(
    "agent_counters",
    ["name", "value"],
    "name",
    "DO UPDATE SET value = excluded.value WHERE excluded.value > agent_counters.value",
)


class AuditFile:
    """One connection to one audit file."""

    def __init__(self, path: str, *, busy_timeout: float, create: bool) -> None:
        self.path = path
        self.store = Store(path, busy_timeout=busy_timeout, create=create)
        try:
            self._add_revision_column()
        except BaseException:
            self.store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def _add_revision_column(self) -> None:
        """``audit_rev`` on ``agent_messages``: the audit's own migration, kept out of the
        shared ones so that a ``sqlite`` hub file never gets it."""
        if _has_revision(self.store.query(TABLE_INFO)):
            return
        with self.store.write() as conn:
            if not _has_revision(conn.execute(TABLE_INFO)):  # another process may have won
                conn.execute(
                    "ALTER TABLE agent_messages ADD COLUMN audit_rev INTEGER NOT NULL DEFAULT 0"
                )


TABLE_INFO = "PRAGMA table_info(agent_messages)"


def _has_revision(columns: Iterable[sqlite3.Row]) -> bool:
    return any(column[1] == "audit_rev" for column in columns)


def record(conn: sqlite3.Connection, state: State, now: float) -> None:
    """Write ``state`` into the audit file, inside the caller's transaction.

    ``now`` dates subscriptions first seen now: Redis keeps no subscription time."""
    conn.executemany(UPSERT_MESSAGE, [_message_row(i, h) for i, h in state.messages.items()])
    conn.executemany(
        INSERT_REPLY, [_row(REPLY_COLUMNS, h, id=int(i)) for i, h in state.replies.items()]
    )
    conn.executemany(
        INSERT_EVENT,
        [
            _row(EVENT_COLUMNS, h, id=int(i), event_type=kind)
            for i, (kind, h) in state.events.items()
        ],
    )
    conn.executemany(
        UPSERT_AGENT, [_row(AGENT_COLUMNS, h, agent_id=a) for a, h in state.agents.items()]
    )
    _record_cursors(conn, state.cursors, iso(now))
    conn.executemany(
        UPSERT_COUNTER,
        [{"name": name, "value": int(value)} for name, value in state.counters.items()],
    )


def _record_cursors(
    conn: sqlite3.Connection, cursors: dict[tuple[str, str], str | None], created: str
) -> None:
    held = [
        {"agent_id": agent, "event_type": kind, "created_at": created, "last_event_id": int(cursor)}
        for (agent, kind), cursor in cursors.items()
        if cursor is not None
    ]
    dropped = [key for key, cursor in cursors.items() if cursor is None]
    conn.executemany(UPSERT_CURSOR, held)
    conn.executemany(DELETE_CURSOR, dropped)


def _message_row(message_id: str, h: Hash) -> dict[str, object]:
    full = {**MESSAGE_DEFAULTS, "available_at": h.get("created_at", ""), **h}
    return _row(MESSAGE_COLUMNS, full, id=int(message_id), audit_rev=int(h.get("rev") or 0))


def _row(columns: dict[str, Convert], h: Hash, **key: object) -> dict[str, object]:
    """The named parameters of one upsert: a Redis hash's fields, converted, and its key."""
    return {**key, **{name: convert(h.get(name)) for name, convert in columns.items()}}
