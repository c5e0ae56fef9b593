"""No fencing: ``complete``, ``reply``, ``fail``, ``extend`` and ``release`` accept any token
while the message is ``processing``, even after its lease expired or passed to another
worker (the design's ``UPDATE ... WHERE id = $MESSAGE_ID``)."""

from __future__ import annotations

import sqlite3

from agentcomm.errors import AlreadyFinished, StaleLease
from agentcomm.models import FINISHED
from agentcomm.sqlite import statements
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("LEASE-002",)

FENCE = "lease_token = ? AND status = 'processing' AND lease_expires_at > ?"
UNFENCED = "(lease_token = ? OR 1) AND status = 'processing' AND (lease_expires_at > ? OR 1)"
"""The token and the deadline are still bound, and ignored."""


class StaleTokenAccepted(SqliteHub):
    sql = swapped(
        COMPLETE=statements.COMPLETE.replace(FENCE, UNFENCED),
        COMPLETE_HELD=statements.COMPLETE_HELD.replace(FENCE, UNFENCED),
    )

    def _leased(
        self, conn: sqlite3.Connection, message_id: str, token: str, now: float
    ) -> sqlite3.Row:
        row = self._row(conn, message_id)
        if row["status"] in FINISHED:
            raise AlreadyFinished(f"message {message_id!r} is already {row['status']}")
        if row["status"] != "processing":
            raise StaleLease(f"message {message_id!r} is not claimed")
        return row  # whoever asks, whenever


def implementation() -> Implementation:
    return Implementation(StaleTokenAccepted, __name__)
