"""``deregister`` stamps ``last_heartbeat`` with the time of leaving (the design's cleanup
``UPDATE ... SET status = 'inactive', last_heartbeat = CURRENT_TIMESTAMP``): a departed
agent is kept a day past its departure instead of a day past its last heartbeat."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.rows import iso
from mutants import Implementation

CATCHES = ("EXP-004", "REG-004")


class DeregisterRefreshesHeartbeat(SqliteHub):
    def _deregister(self, agent: str) -> None:
        with self.store.write() as conn:
            conn.execute(
                "UPDATE agent_registry SET status = 'inactive', current_load = 0,"
                " last_heartbeat = ? WHERE agent_id = ?",
                (iso(self.clock.now()), agent),
            )


def implementation() -> Implementation:
    return Implementation(DeregisterRefreshesHeartbeat, __name__)
