"""``purge_dead(ids)`` deletes the named messages whatever their status, live work too."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub, _is_rowid
from mutants import Implementation

CATCHES = ("DLQ-003",)


class PurgeAnyStatus(SqliteHub):
    def _purge_dead(self, message_ids: list[str] | None) -> int:
        if message_ids is None:
            return super()._purge_dead(None)
        with self.store.write() as conn:
            params = [(int(m),) for m in message_ids if _is_rowid(m)]
            return int(conn.executemany("DELETE FROM agent_messages WHERE id = ?", params).rowcount)


def implementation() -> Implementation:
    return Implementation(PurgeAnyStatus, __name__)
