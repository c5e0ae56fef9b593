"""``purge_dead(ids)`` deletes the named messages whatever their status, live work too."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("DLQ-003",)


class PurgeAnyStatus(SqliteHub):
    sql = swapped(PURGE="DELETE FROM agent_messages WHERE id = ?")


def implementation() -> Implementation:
    return Implementation(PurgeAnyStatus, __name__)
