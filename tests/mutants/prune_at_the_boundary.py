"""``prune`` deletes finished messages at ``finished_at <= now - retain_finished``: one
that finished exactly ``retain_finished`` ago goes too, where the spec keeps it until it
is *more than* that old (an off-by-one at a boundary the spec names)."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("EXP-003",)


class PruneAtTheBoundary(SqliteHub):
    def _prune(self) -> dict[str, int]:
        counts = super()._prune()
        cutoff = self.clock.now() - self.settings.retain_finished
        with self.store.write() as conn:
            counts["messages"] += conn.execute(
                "DELETE FROM agent_messages WHERE status IN ('completed', 'expired')"
                " AND finished_at <= ?",
                (cutoff,),
            ).rowcount
        return counts


def implementation() -> Implementation:
    return Implementation(PruneAtTheBoundary, __name__)
