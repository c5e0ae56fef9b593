"""A new subscription's cursor starts at the beginning of the log, not its end: a new
subscriber is handed every old event of the type (the design's subscriptions table has
no position)."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.rows import iso
from mutants import Implementation

CATCHES = ("EVT-002",)


class SubscriptionFromStart(SqliteHub):
    def _subscribe(self, agent: str, event_type: str) -> None:
        now = self.clock.now()
        with self.store.write() as conn:
            added = conn.execute(
                "INSERT INTO agent_subscriptions (agent_id, event_type, created_at, last_event_id)"
                " VALUES (?, ?, ?, 0) ON CONFLICT (agent_id, event_type) DO NOTHING",
                (agent, event_type, iso(now)),
            ).rowcount
            if added:  # past the trigger that moves a design-made row to the end
                conn.execute(
                    "UPDATE agent_subscriptions SET last_event_id = 0"
                    " WHERE agent_id = ? AND event_type = ?",
                    (agent, event_type),
                )


def implementation() -> Implementation:
    return Implementation(SubscriptionFromStart, __name__)
