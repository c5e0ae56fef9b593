"""Redis: ``sweep`` settles lapsed leases and expires overdue messages, but forgets the
depth counters: ``stats`` still counts them processing or pending."""

from __future__ import annotations

from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation, keeping_depths

CATCHES = ("PRIO-003",)


class SweepKeepsDepths(RedisHub):
    def _sweep(self) -> int:
        return keeping_depths(self, super()._sweep)


def implementation() -> RedisImplementation:
    return RedisImplementation(SweepKeepsDepths, __name__)
