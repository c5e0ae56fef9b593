"""Redis: ``replay`` and ``purge_dead`` leave the message's id in ``dead_letter_queue``
(no LREM): the list no longer says what is dead, and a page of dead letters read from its
head comes back short."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from agentcomm.models import Message
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("DLQ-001", "COMPAT-007")
T = TypeVar("T")


class DeadLetterQueueKeepsIds(RedisHub):
    def _replay(self, message_id: str) -> Message:
        return self._keeping_list(lambda: super(DeadLetterQueueKeepsIds, self)._replay(message_id))

    def _purge_dead(self, message_ids: list[str] | None) -> int:
        return self._keeping_list(
            lambda: super(DeadLetterQueueKeepsIds, self)._purge_dead(message_ids)
        )

    def _keeping_list(self, change: Callable[[], T]) -> T:
        before = self.client.lrange(self.keys.dead, 0, -1)
        result = change()
        pipe = self.client.pipeline()
        pipe.delete(self.keys.dead)
        if before:
            pipe.rpush(self.keys.dead, *before)
        pipe.execute()
        return result


def implementation() -> RedisImplementation:
    return RedisImplementation(DeadLetterQueueKeepsIds, __name__)
