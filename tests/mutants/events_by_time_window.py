"""Events read by a time window instead of a cursor.

The design's subscriber reads ``published_at >= datetime('now', '-$POLL_INTERVAL
seconds')``: an event is returned to every read within the window (duplicates) and never
to a subscriber that reads after the window passed (drops).
"""

from __future__ import annotations

from agentcomm.models import Event
from agentcomm.sqlite import rows
from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.rows import iso
from mutants import Implementation

CATCHES = ("EVT-003", "EVT-004")

POLL_INTERVAL = 30.0
"""The design's subscriber loop interval, seconds."""

RECENT = """
SELECT e.id, e.event_type, e.publisher, e.payload, e.published_at, e.expires_at
FROM agent_subscriptions s
JOIN agent_events e ON e.event_type = s.event_type
WHERE s.agent_id = :agent AND e.published_at >= :since
  AND (e.expires_at IS NULL OR e.expires_at > :now_iso)
ORDER BY e.id LIMIT :limit
"""


class EventsByTimeWindow(SqliteHub):
    def _read_events(self, agent: str, limit: int) -> list[Event]:
        now = self.clock.now()
        found = self.store.query(
            RECENT,
            {
                "agent": agent,
                "since": iso(now - POLL_INTERVAL),
                "now_iso": iso(now),
                "limit": limit,
            },
        )
        return [rows.event(r) for r in found]


def implementation() -> Implementation:
    return Implementation(EventsByTimeWindow, __name__)
