"""No dead letter at ``max_retries``: a failing message is retried forever (the design has
``retry_count`` and ``max_retries`` columns that nothing reads).  ``fail(retry=False)``
still dead-letters."""

from __future__ import annotations

import sqlite3

from agentcomm.sqlite.hub import SqliteHub
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
        self._count(conn, "failed", 1)
        conn.execute(self.sql.RETRY, (now + self.settings.backoff(retries), reason, row["id"]))
        self._count(conn, "retried", 1)


def implementation() -> Implementation:
    return Implementation(RetriesForever, __name__)
