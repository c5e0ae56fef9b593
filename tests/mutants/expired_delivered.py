"""Overdue messages are handed out: a claim ignores ``expires_at``, so a worker back from
an outage answers requests nobody waits for any more."""

from __future__ import annotations

from agentcomm.sqlite import statements
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

DEADLINE = "AND (expires_at IS NULL OR expires_at > :now)"
CATCHES = ("EXP-001",)


class ExpiredDelivered(SqliteHub):
    sql = swapped(
        PROBE=statements.PROBE.replace(DEADLINE, ""), CLAIM=statements.CLAIM.replace(DEADLINE, "")
    )


def implementation() -> Implementation:
    return Implementation(ExpiredDelivered, __name__)
