"""Events in the Redis hub: publish, subscriptions, each subscriber's read through its
cursors, and the tail of the streams."""

from __future__ import annotations

import json
from typing import Any

from agentcomm import validation as v
from agentcomm.errors import NotFound
from agentcomm.models import Event
from agentcomm.redis import records
from agentcomm.redis.base import RedisBase, _is_message_id, stamp


class Events(RedisBase):
    """The Redis hub's event primitives."""

    # -- events --------------------------------------------------------------------------------
    def _publish(
        self, publisher: str, event_type: str, payload_json: str, ttl: float | None
    ) -> Event:
        now = self.clock.now()
        published = float(stamp(now))
        expires = None if ttl is None else float(stamp(now + ttl))
        wire = _event_json_after_id(event_type, publisher, payload_json, published, expires)
        event_id = self._run(
            "publish",
            publisher,
            event_type,
            payload_json,
            "" if expires is None else stamp(expires),
            wire,
            now=now,
        )
        return Event(
            str(event_id), event_type, publisher, v.decode_payload(payload_json), published, expires
        )

    def _subscribe(self, agent: str, event_type: str) -> None:
        self._run("subscribe", agent, event_type)

    def _unsubscribe(self, agent: str, event_type: str) -> None:
        self._run("unsubscribe", agent, event_type)

    def _subscriptions(self, agent: str) -> list[str]:
        key = self.keys.key("subscriptions", agent=agent)
        return sorted(self._read(lambda: self.client.hkeys(key)))

    def _read_events(self, agent: str, limit: int) -> list[Event]:
        return [records.event(row) for row in self._run("read_events", agent, limit)]

    def _tail_events(self, after: str | None, limit: int) -> list[Event]:
        if after is not None and not _is_message_id(after):
            raise NotFound(f"unknown event id {after!r}")
        kinds = sorted(self._read(lambda: self.client.smembers(self.keys.event_types)))

        def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for kind in kinds:
                stream = self.keys.key("stream", type=kind)
                if after is None:
                    pipe.xrevrange(stream, "+", "-", count=limit)
                else:
                    pipe.xrange(stream, f"({after}-0", "+", count=limit)
            return pipe.execute()

        found = [
            records.stream_event(kind, entry_id, h)
            for kind, entries in zip(kinds, self._read(read) if kinds else [], strict=True)
            for entry_id, h in entries
        ]
        found.sort(key=lambda e: int(e.id))
        return found[-limit:] if after is None else found[:limit]


def _event_json_after_id(
    kind: str, publisher: str, payload_json: str, published: float, expires: float | None
) -> str:
    """The event's JSON form (ENV-005) after ``{"id":"<n>",``, which the script adds."""
    return (
        f'"event_type":{json.dumps(kind)},"publisher":{json.dumps(publisher)},'
        f'"payload":{payload_json},"published_at":{published!r},'
        f'"expires_at":{json.dumps(expires)}}}'
    )
