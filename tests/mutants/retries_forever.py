"""No dead letter at ``max_retries``: a failing message is retried forever (the design has
``retry_count`` and ``max_retries`` columns that nothing reads).  ``fail(retry=False)``
still dead-letters."""

from __future__ import annotations

import sqlite3

from agentcomm.sqlite.hub import SqliteHub, _count
from mutants import Implementation

CATCHES = ("RETRY-001",)


class RetriesForever(SqliteHub):
    def _retry_or_bury(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        reason: str,
        now: float,
        *,
        retry: bool,
        by_holder: bool,
    ) -> None:
        if not retry:
            super()._retry_or_bury(conn, row, reason, now, retry=retry, by_holder=by_holder)
            return
        retries = int(row["retry_count"] or 0)
        _count(conn, "failed", 1)
        conn.execute(
            "UPDATE agent_messages SET status = 'pending', retry_count = retry_count + 1,"
            " available_at = ?, last_error = ?, lease_token = NULL,"
            " lease_expires_at = NULL, claimed_by = NULL WHERE id = ?",
            (now + self.settings.backoff(retries), reason, row["id"]),
        )
        _count(conn, "retried", 1)


def implementation() -> Implementation:
    return Implementation(RetriesForever, __name__)
