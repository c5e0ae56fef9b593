"""Redis: ``purge_dead`` deletes dead letters, but ``stats`` keeps counting them dead."""

from __future__ import annotations

from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation, keeping_depths

CATCHES = ("PRIO-003",)


class PurgeKeepsDepths(RedisHub):
    def _purge_dead(self, message_ids: list[str] | None) -> int:
        return keeping_depths(self, lambda: super(PurgeKeepsDepths, self)._purge_dead(message_ids))


def implementation() -> RedisImplementation:
    return RedisImplementation(PurgeKeepsDepths, __name__)
