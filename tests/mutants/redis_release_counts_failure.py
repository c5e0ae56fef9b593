"""Redis: ``release`` is counted as a failure (``failed`` + 1): an agent shutting down
cleanly makes the hub look broken."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.models import Message
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("PRIO-004",)


class ReleaseCountsFailure(RedisHub):
    def _release(
        self, message_id: str, token: str, then: Then | None
    ) -> tuple[Message, Next | None]:
        released = super()._release(message_id, token, then)
        self.client.hincrby(self.keys.counters, "failed", 1)
        return released


def implementation() -> RedisImplementation:
    return RedisImplementation(ReleaseCountsFailure, __name__)
