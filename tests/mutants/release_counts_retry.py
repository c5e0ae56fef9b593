"""``release`` spends a retry: it hands the message back with ``retry_count`` + 1, as if
the worker had failed it."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.models import Message
from agentcomm.sqlite import rows
from agentcomm.sqlite.hub import SqliteHub, _next, _rowid
from mutants import Implementation

CATCHES = ("LEASE-005",)


class ReleaseCountsRetry(SqliteHub):
    def _release(
        self, message_id: str, token: str, then: Then | None
    ) -> tuple[Message, Next | None]:
        now = self.clock.now()
        with self.store.write() as conn:
            self._leased(conn, message_id, token, now)
            conn.execute(
                "UPDATE agent_messages SET status = 'pending', available_at = ?,"
                " retry_count = retry_count + 1,"
                " lease_token = NULL, lease_expires_at = NULL, claimed_by = NULL"
                " WHERE id = ?",
                (now, _rowid(message_id)),
            )
            row = self._row(conn, message_id)
            claimed = self._claim_next(conn, then, [row["to_agent"]], now)
        return rows.message(row), _next(claimed)


def implementation() -> Implementation:
    return Implementation(ReleaseCountsRetry, __name__)
