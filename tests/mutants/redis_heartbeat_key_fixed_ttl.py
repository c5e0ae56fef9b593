"""Redis: the heartbeat key always lives 60 s, as the design's ``SETEX ... 60``, whatever
``ttl`` the agent registered with."""

from __future__ import annotations

from agentcomm.models import AgentInfo
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("COMPAT-006",)


class HeartbeatKeyFixedTtl(RedisHub):
    def _register(
        self,
        agent: str,
        capabilities: tuple[str, ...],
        process_id: int | None,
        max_concurrent: int,
        ttl: float,
    ) -> AgentInfo:
        info = super()._register(agent, capabilities, process_id, max_concurrent, ttl)
        self.client.expire(self.keys.key("heartbeat", agent=agent), 60)
        return info

    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        info = super()._heartbeat(agent, load)
        self.client.expire(self.keys.key("heartbeat", agent=agent), 60)
        return info


def implementation() -> RedisImplementation:
    return RedisImplementation(HeartbeatKeyFixedTtl, __name__)
