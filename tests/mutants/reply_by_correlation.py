"""A reply is found by correlation id, not by its request's message id: the first reply
to any request with the same correlation id answers every later one (the design's join
on ``correlation_id``)."""

from __future__ import annotations

from agentcomm.models import Reply
from agentcomm.sqlite import rows
from agentcomm.sqlite.hub import SqliteHub, _rowid
from mutants import Implementation

CATCHES = ("REQ-002",)

BY_CORRELATION = """
SELECT r.*, m.correlation_id FROM agent_responses r
JOIN agent_messages m ON m.id = r.request_id
WHERE r.request_id = :id
   OR m.correlation_id = (SELECT correlation_id FROM agent_messages WHERE id = :id)
ORDER BY r.id LIMIT 1
"""


class ReplyByCorrelation(SqliteHub):
    def _get_reply(self, request_id: str) -> Reply | None:
        found = self.store.query(BY_CORRELATION, {"id": _rowid(request_id)})
        if found:
            return rows.reply(found[0])
        self._lookup(request_id)
        return None


def implementation() -> Implementation:
    return Implementation(ReplyByCorrelation, __name__)
