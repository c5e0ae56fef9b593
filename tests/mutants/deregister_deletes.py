"""``deregister`` deletes the registry entry instead of marking it ``inactive``."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("REG-004",)


class DeregisterDeletes(SqliteHub):
    def _deregister(self, agent: str) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM agent_registry WHERE agent_id = ?", (agent,))


def implementation() -> Implementation:
    return Implementation(DeregisterDeletes, __name__)
