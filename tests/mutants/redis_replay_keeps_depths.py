"""Redis: ``replay`` returns a dead letter to pending, but forgets the depth counters:
``stats`` still counts it dead."""

from __future__ import annotations

from agentcomm.models import Message
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation, keeping_depths

CATCHES = ("PRIO-003",)


class ReplayKeepsDepths(RedisHub):
    def _replay(self, message_id: str) -> Message:
        return keeping_depths(self, lambda: super(ReplayKeepsDepths, self)._replay(message_id))


def implementation() -> RedisImplementation:
    return RedisImplementation(ReplayKeepsDepths, __name__)
