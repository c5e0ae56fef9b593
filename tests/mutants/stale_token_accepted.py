"""No fencing: ``complete``, ``reply``, ``fail``, ``extend`` and ``release`` accept any token
while the message is ``processing``, even after its lease expired or passed to another
worker (the design's ``UPDATE ... WHERE id = $MESSAGE_ID``)."""

from __future__ import annotations

import sqlite3

from agentcomm.api import Next, Then
from agentcomm.errors import AlreadyFinished, StaleLease
from agentcomm.sqlite.hub import FINISHED, SqliteHub, _next
from mutants import Implementation

CATCHES = ("LEASE-002",)


class StaleTokenAccepted(SqliteHub):
    def _leased(
        self, conn: sqlite3.Connection, message_id: str, token: str, now: float
    ) -> sqlite3.Row:
        row = self._row(conn, message_id)
        if row["status"] in FINISHED:
            raise AlreadyFinished(f"message {message_id!r} is already {row['status']}")
        if row["status"] != "processing":
            raise StaleLease(f"message {message_id!r} is not claimed")
        return row  # whoever asks, whenever

    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        now = self.clock.now()
        with self.store.write() as conn:
            targets = []
            for message_id, token in pairs:
                row = self._leased(conn, message_id, token, now)
                conn.execute(
                    "UPDATE agent_messages SET status = 'completed', finished_at = ? WHERE id = ?",
                    (now, row["id"]),
                )
                targets.append(row["to_agent"])
            claimed = self._claim_next(conn, then, targets, now)
        return _next(claimed)


def implementation() -> Implementation:
    return Implementation(StaleTokenAccepted, __name__)
