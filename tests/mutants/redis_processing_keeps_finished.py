"""Redis: completing a message leaves its id in ``processing:<target>`` (the ZREM is
forgotten): the processing set no longer says what is leased."""

from __future__ import annotations

from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("COMPAT-007",)


class ProcessingKeepsFinished(RedisHub):
    def _complete(self, pairs: list[tuple[str, str]]) -> None:
        leases = []
        for message_id, _ in pairs:
            target, lease = self.client.hmget(self.keys.key("message", id=message_id),
                                              ["to_agent", "lease_expires_at"])
            leases.append((message_id, str(target), lease))
        super()._complete(pairs)
        for message_id, target, lease in leases:
            if target and lease:
                self.client.zadd(self.keys.key("processing", target=target),
                                 {message_id: float(lease)})


def implementation() -> RedisImplementation:
    return RedisImplementation(ProcessingKeepsFinished, __name__)
