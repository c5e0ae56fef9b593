"""The agent registry of the Redis hub: register, heartbeat, deregister, and the list."""

from __future__ import annotations

import json

from agentcomm.models import AgentInfo
from agentcomm.redis import records
from agentcomm.redis.base import RedisBase


class Registry(RedisBase):
    """The Redis hub's registry primitives."""

    # -- registry ------------------------------------------------------------------------------
    def _register(
        self,
        agent: str,
        capabilities: tuple[str, ...],
        process_id: int | None,
        max_concurrent: int,
        ttl: float,
    ) -> AgentInfo:
        now = self.clock.now()
        flat = self._run(
            "register",
            agent,
            json.dumps(list(capabilities)),
            "" if process_id is None else process_id,
            max_concurrent,
            ttl,
            now=now,
        )
        return records.agent(agent, records.as_dict(flat), now)

    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        now = self.clock.now()
        flat = self._run("heartbeat", agent, "" if load is None else load, now=now)
        return records.agent(agent, records.as_dict(flat), now)

    def _deregister(self, agent: str) -> None:
        self._run("deregister", agent)

    def _agents(self) -> list[AgentInfo]:
        now = self.clock.now()
        known = sorted(self._read(lambda: self.client.smembers(self.keys.agents)))

        def read() -> list[dict[str, str]]:
            pipe = self.client.pipeline(transaction=False)
            for agent in known:
                pipe.hgetall(self.keys.key("registry", agent=agent))
            return pipe.execute()

        entries = self._read(read) if known else []
        return [records.agent(a, h, now) for a, h in zip(known, entries, strict=True) if h]
