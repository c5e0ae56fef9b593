"""Events in the SQLite hub: publish, subscriptions, each subscriber's read through its
cursors, and the tail of the log."""

from __future__ import annotations

from agentcomm import validation as v
from agentcomm.models import Event
from agentcomm.sqlite import rows
from agentcomm.sqlite.base import SqliteBase, _rowid
from agentcomm.sqlite.rows import from_iso, iso


class Events(SqliteBase):
    """The SQLite hub's event primitives."""

    # -- events ----------------------------------------------------------------------------
    def _publish(
        self, publisher: str, event_type: str, payload_json: str, ttl: float | None
    ) -> Event:
        now = self.clock.now()
        expires = None if ttl is None else now + ttl
        with self.store.write() as conn:
            event_id = conn.execute(
                self.sql.PUBLISH,
                (
                    event_type,
                    publisher,
                    payload_json,
                    iso(now),
                    None if expires is None else iso(expires),
                ),
            ).lastrowid
        return Event(
            str(event_id),
            event_type,
            publisher,
            v.decode_payload(payload_json),
            from_iso(iso(now)),
            None if expires is None else from_iso(iso(expires)),
        )

    def _subscribe(self, agent: str, event_type: str) -> None:
        now = self.clock.now()
        with self.store.write() as conn:
            # The cursor starts at the end of the log: only events published from now on.
            conn.execute(self.sql.SUBSCRIBE, (agent, event_type, iso(now)))

    def _unsubscribe(self, agent: str, event_type: str) -> None:
        with self.store.write() as conn:
            conn.execute(self.sql.UNSUBSCRIBE, (agent, event_type))

    def _subscriptions(self, agent: str) -> list[str]:
        found = self.store.query(self.sql.SUBSCRIPTIONS, (agent,))
        return [r[0] for r in found]

    def _read_events(self, agent: str, limit: int) -> list[Event]:
        params = {"agent": agent, "now_iso": iso(self.clock.now()), "limit": limit}
        if not self.store.query(self.sql.UNREAD_EVENTS, {**params, "limit": 1}):
            return []
        with self.store.write() as conn:
            found = conn.execute(self.sql.UNREAD_EVENTS, params).fetchall()
            cursors: dict[str, int] = {}
            for row in found:
                cursors[row["event_type"]] = int(row["id"])
            conn.executemany(
                self.sql.ADVANCE_CURSOR,
                [(last, agent, kind) for kind, last in cursors.items()],
            )
        return [rows.event(r) for r in found]

    def _tail_events(self, after: str | None, limit: int) -> list[Event]:
        if after is None:
            found = self.store.query(self.sql.LATEST_EVENTS, (limit,))
        else:
            found = self.store.query(self.sql.EVENTS_AFTER, (_rowid(after), limit))
        return [rows.event(r) for r in found]
