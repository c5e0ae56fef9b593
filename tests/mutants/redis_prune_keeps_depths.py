"""Redis: ``prune`` deletes finished messages, but ``stats`` keeps counting them completed
or expired, for ever."""

from __future__ import annotations

from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation, keeping_depths

CATCHES = ("PRIO-003",)


class PruneKeepsDepths(RedisHub):
    def _prune(self) -> dict[str, int]:
        return keeping_depths(self, super()._prune)


def implementation() -> RedisImplementation:
    return RedisImplementation(PruneKeepsDepths, __name__)
