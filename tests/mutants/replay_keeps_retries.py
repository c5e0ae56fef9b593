"""``replay`` keeps the spent ``retry_count``: a replayed message has no retry budget left,
so its next failure dead-letters it at once."""

from __future__ import annotations

from agentcomm.sqlite import statements
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("DLQ-002",)


class ReplayKeepsRetries(SqliteHub):
    sql = swapped(REPLAY=statements.REPLAY.replace(" retry_count = 0,", ""))


def implementation() -> Implementation:
    return Implementation(ReplayKeepsRetries, __name__)
