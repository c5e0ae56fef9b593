"""``prune`` also deletes dead letters finished more than ``retain_finished`` ago: work
that was never done disappears by a retention timer."""

from __future__ import annotations

from agentcomm.sqlite import statements
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("DLQ-004",)

PRUNED = ("DONE_MESSAGES", "DROP_REPLIES", "DONE_COMPLETED", "DROP_MESSAGES")
"""Every statement of ``prune`` that reads ``statements.DONE``."""
FINISHED = "status IN ('completed', 'expired')"


class PruneDeadLetters(SqliteHub):
    sql = swapped(
        **{
            name: getattr(statements, name).replace(
                FINISHED, "status IN ('completed', 'expired', 'dead')"
            )
            for name in PRUNED
        }
    )


def implementation() -> Implementation:
    return Implementation(PruneDeadLetters, __name__)
