"""Priority ignored: claims are first in, first out whatever the priority (the design's
``ORDER BY created_at``)."""

from __future__ import annotations

import sqlite3

from agentcomm.sqlite import statements
from mutants import ClaimHook, Implementation, swapped

CATCHES = ("PRIO-001", "ORD-001")


class PriorityIgnored(ClaimHook):
    sql = swapped(CLAIM=statements.CLAIM.replace("ORDER BY priority DESC, id", "ORDER BY id"))

    def _claim_order(self, row: sqlite3.Row) -> tuple[int, ...]:
        return (int(row["id"]),)  # and the rows of one claim come back in send order


def implementation() -> Implementation:
    return Implementation(PriorityIgnored, __name__)
