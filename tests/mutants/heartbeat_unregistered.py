"""``heartbeat`` of an agent that never registered succeeds silently (the design's
heartbeat ``UPDATE`` changes no row and says nothing)."""

from __future__ import annotations

from agentcomm.models import AgentInfo
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("REG-002",)


class HeartbeatUnregistered(SqliteHub):
    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        now = self.clock.now()
        known = {a.agent_id: a for a in self._agents()}
        if agent not in known:
            return AgentInfo(agent, "active", now, self.settings.heartbeat_ttl, True, 0.0)
        return super()._heartbeat(agent, load)


def implementation() -> Implementation:
    return Implementation(HeartbeatUnregistered, __name__)
