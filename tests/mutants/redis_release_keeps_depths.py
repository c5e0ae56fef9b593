"""Redis: ``release`` hands the message back, but its script forgets the depth counters:
``stats`` still counts it processing, never pending."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.models import Message
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation, keeping_depths

CATCHES = ("PRIO-003",)


class ReleaseKeepsDepths(RedisHub):
    def _release(
        self, message_id: str, token: str, then: Then | None
    ) -> tuple[Message, Next | None]:
        return keeping_depths(
            self, lambda: super(ReleaseKeepsDepths, self)._release(message_id, token, then)
        )


def implementation() -> RedisImplementation:
    return RedisImplementation(ReleaseKeepsDepths, __name__)
