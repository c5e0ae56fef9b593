"""Redis: ``fail`` retries or dead-letters the message, but its script forgets the depth
counters: ``stats`` still counts it processing."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.models import Message
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation, keeping_depths

CATCHES = ("PRIO-003",)


class FailKeepsDepths(RedisHub):
    def _fail(
        self, message_id: str, token: str, reason: str, retry: bool, then: Then | None
    ) -> tuple[Message, Next | None]:
        return keeping_depths(
            self, lambda: super(FailKeepsDepths, self)._fail(message_id, token, reason, retry, then)
        )


def implementation() -> RedisImplementation:
    return RedisImplementation(FailKeepsDepths, __name__)
