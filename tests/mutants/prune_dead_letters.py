"""``prune`` also deletes dead letters finished more than ``retain_finished`` ago: work
that was never done disappears by a retention timer."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("DLQ-004",)


class PruneDeadLetters(SqliteHub):
    def _prune(self) -> dict[str, int]:
        cutoff = self.clock.now() - self.settings.retain_finished
        with self.store.write() as conn:
            dead = conn.execute(
                "DELETE FROM agent_messages WHERE status = 'dead' AND finished_at < ?", (cutoff,)
            ).rowcount
        counts = super()._prune()
        return {**counts, "messages": counts["messages"] + int(dead)}


def implementation() -> Implementation:
    return Implementation(PruneDeadLetters, __name__)
