"""Priority ignored: claims are first in, first out whatever the priority (the design's
``ORDER BY created_at``)."""

from __future__ import annotations

import sqlite3

from agentcomm.sqlite.hub import CLAIM
from mutants import ClaimHook, Implementation

CATCHES = ("PRIO-001", "ORD-001")


class PriorityIgnored(ClaimHook):
    claim_sql = CLAIM.replace("ORDER BY priority DESC, id", "ORDER BY id")

    def _claim_order(self, row: sqlite3.Row) -> tuple[int, ...]:
        return (int(row["id"]),)


assert PriorityIgnored.claim_sql != CLAIM


def implementation() -> Implementation:
    return Implementation(PriorityIgnored, __name__)
