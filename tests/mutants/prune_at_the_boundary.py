"""``prune`` deletes finished messages at ``finished_at <= now - retain_finished``: one
that finished exactly ``retain_finished`` ago goes too, where the spec keeps it until it
is *more than* that old (an off-by-one at a boundary the spec names)."""

from __future__ import annotations

from agentcomm.sqlite import statements
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("EXP-003",)

PRUNED = ("DONE_MESSAGES", "DROP_REPLIES", "DONE_COMPLETED", "DROP_MESSAGES")
"""Every statement of ``prune`` that reads ``statements.DONE``."""


class PruneAtTheBoundary(SqliteHub):
    sql = swapped(
        **{
            name: getattr(statements, name).replace("finished_at < ?", "finished_at <= ?")
            for name in PRUNED
        }
    )


def implementation() -> Implementation:
    return Implementation(PruneAtTheBoundary, __name__)
