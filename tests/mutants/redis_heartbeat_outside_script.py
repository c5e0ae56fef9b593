"""Redis: a heartbeat refreshes its key with a plain ``SETEX`` after the script, as the
design's ``heartbeat()`` does, so the change reaches the server as two steps."""

from __future__ import annotations

from agentcomm.models import AgentInfo
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("COMPAT-008",)


class HeartbeatOutsideScript(RedisHub):
    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        info = super()._heartbeat(agent, load)
        key = self.keys.key("heartbeat", agent=agent)
        self.client.setex(key, max(1, round(info.heartbeat_ttl)), "alive")
        return info


def implementation() -> RedisImplementation:
    return RedisImplementation(HeartbeatOutsideScript, __name__)
