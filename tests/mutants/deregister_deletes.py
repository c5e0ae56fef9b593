"""``deregister`` deletes the registry entry instead of marking it ``inactive``."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("REG-004",)


class DeregisterDeletes(SqliteHub):
    sql = swapped(DEREGISTER="DELETE FROM agent_registry WHERE agent_id = ?")


def implementation() -> Implementation:
    return Implementation(DeregisterDeletes, __name__)
