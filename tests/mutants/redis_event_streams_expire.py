"""Redis: each event stream gets a TTL of an hour ("events are for the live system"): an
offline subscriber back the next day finds nothing, long before ``retain_events``."""

from __future__ import annotations

from agentcomm.models import Event
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("EXP-003",)


class EventStreamsExpire(RedisHub):
    def _publish(
        self, publisher: str, event_type: str, payload_json: str, ttl: float | None
    ) -> Event:
        event = super()._publish(publisher, event_type, payload_json, ttl)
        self.client.expire(self.keys.key("stream", type=event_type), 3600)
        return event


def implementation() -> RedisImplementation:
    return RedisImplementation(EventStreamsExpire, __name__)
