"""A reply is found by correlation id, not by its request's message id: the first reply
to any request with the same correlation id answers every later one (the design's join
on ``correlation_id``)."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("REQ-002",)

BY_CORRELATION = """
SELECT r.*, m.correlation_id FROM agent_responses r
JOIN agent_messages m ON m.id = r.request_id
WHERE r.request_id = ?1
   OR m.correlation_id = (SELECT correlation_id FROM agent_messages WHERE id = ?1)
ORDER BY r.id LIMIT 1
"""


class ReplyByCorrelation(SqliteHub):
    sql = swapped(REPLY=BY_CORRELATION)


def implementation() -> Implementation:
    return Implementation(ReplyByCorrelation, __name__)
