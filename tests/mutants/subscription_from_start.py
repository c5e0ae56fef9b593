"""A new subscription's cursor starts at the beginning of the log, not its end: a new
subscriber is handed every old event of the type (the design's subscriptions table has
no position)."""

from __future__ import annotations

from agentcomm.sqlite import statements
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation, swapped

CATCHES = ("EVT-002",)

AT_THE_END = "(SELECT coalesce(max(id), 0) FROM agent_events)"
BEFORE_THE_FIRST = "-1"  # not 0: the trigger moves a cursor of 0 (a design-made row) to the end


class SubscriptionFromStart(SqliteHub):
    sql = swapped(SUBSCRIBE=statements.SUBSCRIBE.replace(AT_THE_END, BEFORE_THE_FIRST))


def implementation() -> Implementation:
    return Implementation(SubscriptionFromStart, __name__)
