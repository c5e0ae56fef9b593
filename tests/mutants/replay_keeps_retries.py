"""``replay`` keeps the spent ``retry_count``: a replayed message has no retry budget left,
so its next failure dead-letters it at once."""

from __future__ import annotations

from agentcomm.errors import Conflict
from agentcomm.models import Message
from agentcomm.sqlite import rows
from agentcomm.sqlite.hub import SqliteHub, _rowid
from agentcomm.sqlite.rows import MESSAGE_COLUMNS
from mutants import Implementation

CATCHES = ("DLQ-002",)


class ReplayKeepsRetries(SqliteHub):
    def _replay(self, message_id: str) -> Message:
        now = self.clock.now()
        with self.store.write() as conn:
            found = conn.execute(
                "UPDATE agent_messages SET status = 'pending',"
                " available_at = ?, finished_at = NULL, expires_at = NULL,"
                " lease_token = NULL, lease_expires_at = NULL, claimed_by = NULL"
                f" WHERE id = ? AND status = 'dead' RETURNING {MESSAGE_COLUMNS}",
                (now, _rowid(message_id)),
            ).fetchone()
            if found is None:
                status = self._row(conn, message_id)["status"]
                raise Conflict(f"message {message_id!r} is {status}, not dead: nothing to replay")
        return rows.message(found)


def implementation() -> Implementation:
    return Implementation(ReplayKeepsRetries, __name__)
