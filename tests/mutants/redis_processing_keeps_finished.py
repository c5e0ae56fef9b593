"""Redis: completing a message leaves its id in ``processing:<target>`` (the ZREM is
forgotten): the processing set no longer says what is leased, and ``stats``, which counts
leases from it, still counts the message processing."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("COMPAT-007", "PRIO-003")


class ProcessingKeepsFinished(RedisHub):
    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        leases = []
        for message_id, _ in pairs:
            target, lease = self.client.hmget(
                self.keys.key("message", id=message_id), ["to_agent", "lease_expires_at"]
            )
            leases.append((message_id, str(target), lease))
        claimed = super()._complete(pairs, then)
        for message_id, target, lease in leases:
            if target and lease:
                self.client.zadd(
                    self.keys.key("processing", target=target), {message_id: float(lease)}
                )
        return claimed


def implementation() -> RedisImplementation:
    return RedisImplementation(ProcessingKeepsFinished, __name__)
