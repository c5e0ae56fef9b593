"""The SQLite hub reads a message row by position (``rows.message``): every field must
come from the column of its own name, whatever the order of ``MESSAGE_COLUMNS``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import agentcomm
from agentcomm.models import Priority, Status
from agentcomm.sqlite.rows import MESSAGE_COLUMNS, from_iso

# A distinct value in every column a Message is read from, as the design's own scripts
# or agentcomm could have written it.
COLUMNS = {
    "from_agent": "@sender",
    "to_agent": "@receiver",
    "message_type": "kind",
    "payload": '{"p": 1}',
    "status": "processing",
    "priority": 2,
    "created_at": "2026-12-06 10:00:00.250",
    "timeout_seconds": 41,
    "retry_count": 2,
    "max_retries": 7,
    "correlation_id": "corr",
    "expires_at": 1_900_000_000.5,
    "available_at": 1_800_000_000.25,
    "claimed_by": "@claimer",
    "last_error": "the last error",
    "response_id": 99,
    "lease_token": "token",
    "lease_expires_at": 1_800_000_100.0,
}
FIELD_OF = {"message_type": "type", "response_id": "reply_id"}


def test_every_field_of_a_message_is_read_from_its_own_column(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    agentcomm.connect(f"sqlite:///{path}", create=True).close()
    with sqlite3.connect(path) as conn:
        names = ", ".join(COLUMNS)
        marks = ", ".join("?" * len(COLUMNS))
        row_id = conn.execute(
            f"INSERT INTO agent_messages ({names}) VALUES ({marks})", list(COLUMNS.values())
        ).lastrowid
    with agentcomm.connect(f"sqlite:///{path}") as hub:
        message = hub.get(str(row_id))
    read = message.as_dict()
    expected = {
        **{FIELD_OF.get(c, c): v for c, v in COLUMNS.items() if not c.startswith("lease_")},
        "id": str(row_id),
        "payload": {"p": 1},
        "status": Status.PROCESSING,
        "priority": Priority.HIGH,
        "created_at": from_iso(str(COLUMNS["created_at"])),
        "reply_id": "99",
    }
    assert read == expected
    assert {c.strip() for c in MESSAGE_COLUMNS.split(",")} == {"id", *COLUMNS}
