"""Maintenance of the Redis hub: sweep (lapsed leases, overdue messages, and messages a
foreign reader took off their lists), prune (retention), and stats, each in steps that
never hold the server for long."""

from __future__ import annotations

from agentcomm.models import Stats
from agentcomm.redis import records
from agentcomm.redis.base import RedisBase, stamp

STEP_BUDGET = 200
"""Objects one step of sweep, prune (or of a layout migration) handles: a few
milliseconds of server time, so maintenance never holds the server for long
(BENCHMARKS.md)."""
SCAN_PER_SWEEP = 2000
"""Message ids one sweep looks at for messages a foreign reader took off their lists (the
design's BRPOP); the next sweep goes on from there, and a pass starts again at the lowest
unfinished id."""
COUNTERS = ("sent", "completed", "failed", "retried", "dead", "expired", "published")


class Maintenance(RedisBase):
    """The Redis hub's maintenance primitives."""

    # -- maintenance ---------------------------------------------------------------------------
    def _sweep(self) -> int:
        """Sweep in steps of ``STEP_BUDGET`` messages, until a step finds no more; look at
        ``SCAN_PER_SWEEP`` ids for messages taken from their lists (sweep.lua)."""
        now, changed, passed, scan, more = self.clock.now(), set(), 0, SCAN_PER_SWEEP, 1
        while more:
            more, left, looked, *ids = self._run("sweep", STEP_BUDGET, passed, scan, now=now)
            passed, scan = passed + int(left), scan - int(looked)
            changed.update(ids)
        return len(changed)

    def _prune(self) -> dict[str, int]:
        """Prune in steps of ``STEP_BUDGET`` objects, until a step finds no more."""
        now = self.clock.now()
        totals = dict.fromkeys(("messages", "replies", "events", "agents"), 0)
        more = 1
        while more:
            *counts, more = map(
                int,
                self._run(
                    "prune",
                    stamp(now - self.settings.retain_finished),
                    stamp(now - self.settings.retain_events),
                    STEP_BUDGET,
                    now=now,
                ),
            )
            for name, n in zip(totals, counts, strict=True):
                totals[name] += n
        return totals

    def _stats(self) -> Stats:
        depth_fields, counter_fields = self._run("stats", reads_only=True)
        found = records.as_dict(counter_fields)
        counters = {name: int(found.get(name, 0)) for name in COUNTERS}
        known = self._agents()
        return Stats(_depths(depth_fields), counters, sum(a.alive for a in known), len(known))


def _depths(flat: list[str]) -> dict[str, dict[str, int]]:
    """stats.lua's ``target, key, count, ...`` as ``{target: {key: count}}``."""
    found: dict[str, dict[str, int]] = {}
    for target, key, count in zip(flat[::3], flat[1::3], flat[2::3], strict=True):
        found.setdefault(target, {})[key] = int(count)
    return found
