"""``release`` spends a retry: it hands the message back with ``retry_count`` + 1, as if
the worker had failed it."""

from __future__ import annotations

from agentcomm.sqlite import statements
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("LEASE-005",)

SPENT = "available_at = ?, retry_count = retry_count + 1,"


class ReleaseCountsRetry(SqliteHub):
    sql = swapped(RELEASE=statements.RELEASE.replace("available_at = ?,", SPENT))


def implementation() -> Implementation:
    return Implementation(ReleaseCountsRetry, __name__)
