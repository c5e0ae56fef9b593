"""Lapsed leases are never settled: a claimed message whose worker died stays
``processing`` forever (the design never reads ``timeout_seconds``)."""

from __future__ import annotations

import sqlite3

from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("CLAIM-005", "LEASE-006", "LEASE-007", "RETRY-001", "EXP-002")


class NoLeaseExpiry(SqliteHub):
    def _settle_leases(self, conn: sqlite3.Connection, now: float) -> set[int]:
        return set()


def implementation() -> Implementation:
    return Implementation(NoLeaseExpiry, __name__)
