"""Events come newest first (the design's ``ORDER BY ae.published_at DESC``), from
``events`` and ``tail_events`` alike."""

from __future__ import annotations

from agentcomm.models import Event
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("ORD-002",)


class EventsNewestFirst(SqliteHub):
    def _read_events(self, agent: str, limit: int) -> list[Event]:
        return sorted(super()._read_events(agent, limit), key=lambda e: -int(e.id))

    def _tail_events(self, after: str | None, limit: int) -> list[Event]:
        return sorted(super()._tail_events(after, limit), key=lambda e: -int(e.id))


def implementation() -> Implementation:
    return Implementation(EventsNewestFirst, __name__)
