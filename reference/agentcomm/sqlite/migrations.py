"""Schema versions, applied in one ``BEGIN IMMEDIATE`` transaction, tracked by ``user_version``.

Version 1 adopts the design document's tables (fresh, or already made by its scripts)
and adds agentcomm's columns, each with a default so the design's INSERTs keep working.
Version 2 adds a trigger, so that a subscription the design INSERTs starts where
``subscribe`` starts one.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "agent_messages": (
        ("available_at", "REAL NOT NULL DEFAULT 0"),  # not claimable before (retry backoff)
        ("lease_token", "TEXT NULL"),  # the current claim's fencing token
        ("lease_expires_at", "REAL NULL"),
        ("claimed_by", "VARCHAR(100) NULL"),  # the design overwrote to_agent; we keep it
        ("expires_at", "REAL NULL"),  # a request's deadline: undelivered after it
        ("last_error", "TEXT NULL"),  # why the last delivery failed; the dead-letter reason
        ("finished_at", "REAL NULL"),  # completed, dead or expired: retention counts from here
        ("dead_order", "INTEGER NULL"),  # the order messages died in, which times may tie
    ),
    "agent_registry": (("heartbeat_ttl", "REAL NOT NULL DEFAULT 60"),),
    "agent_subscriptions": (("last_event_id", "INTEGER NOT NULL DEFAULT 0"),),
}

INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_messages_pending"
    " ON agent_messages(to_agent, priority DESC, id) WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS ix_messages_leases"
    " ON agent_messages(lease_expires_at) WHERE status = 'processing'",
    "CREATE INDEX IF NOT EXISTS ix_messages_deadline"
    " ON agent_messages(expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS ix_messages_finished"
    " ON agent_messages(finished_at) WHERE status IN ('completed', 'expired')",
    "CREATE INDEX IF NOT EXISTS ix_messages_dead"
    " ON agent_messages(dead_order) WHERE status = 'dead'",
    "CREATE INDEX IF NOT EXISTS ix_responses_request ON agent_responses(request_id)",
    "CREATE INDEX IF NOT EXISTS ix_events_type ON agent_events(event_type, id)",
)


def migrate_to_1(conn: sqlite3.Connection) -> None:
    # One statement at a time: executescript() would COMMIT the migration half-way.
    for statement in _schema_statements():
        conn.execute(statement)
    for table, columns in ADDED_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, declaration in columns:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
    for statement in INDEXES:
        conn.execute(statement)


SUBSCRIPTIONS_START_AT_THE_END = """
CREATE TRIGGER IF NOT EXISTS agent_subscriptions_start_at_the_end
AFTER INSERT ON agent_subscriptions WHEN NEW.last_event_id = 0
BEGIN
    UPDATE agent_subscriptions
    SET last_event_id = (SELECT coalesce(max(id), 0) FROM agent_events) WHERE id = NEW.id;
END
"""
"""A subscription row INSERTed the design's way (no cursor) starts at the end of the log,
as ``subscribe`` does (SPEC EVT-002, COMPAT-004), instead of replaying every past event."""


def migrate_to_2(conn: sqlite3.Connection) -> None:
    conn.execute(SUBSCRIPTIONS_START_AT_THE_END)


MIGRATIONS = {1: migrate_to_1, 2: migrate_to_2}


def _schema_statements() -> list[str]:
    from importlib import resources  # only a migration reads the schema file

    text = resources.files("agentcomm.sqlite").joinpath("schema.sql").read_text("utf-8")
    lines = [line.split("--", 1)[0] for line in text.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
