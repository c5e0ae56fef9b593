"""Heartbeats are kept to the millisecond, rounded to the nearest one instead of truncated
(``round(t, 3)``): an agent can be alive at exactly its TTL, up to half a millisecond
longer than it may."""

from __future__ import annotations

import time

from agentcomm.models import AgentInfo
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("REG-003",)


def rounded(ts: float) -> str:
    whole, millis = divmod(round(ts * 1000), 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{millis:03d}"


class HeartbeatRounded(SqliteHub):
    def _register(
        self,
        agent: str,
        capabilities: tuple[str, ...],
        process_id: int | None,
        max_concurrent: int,
        ttl: float,
    ) -> AgentInfo:
        info = super()._register(agent, capabilities, process_id, max_concurrent, ttl)
        self._round(agent)
        return info

    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        info = super()._heartbeat(agent, load)
        self._round(agent)
        return info

    def _round(self, agent: str) -> None:
        with self.store.write() as conn:
            conn.execute(
                "UPDATE agent_registry SET last_heartbeat = ? WHERE agent_id = ?",
                (rounded(self.clock.now()), agent),
            )


def implementation() -> Implementation:
    return Implementation(HeartbeatRounded, __name__)
