"""Redis: a reply's key expires five minutes after it is written, as the design's
``SETEX response:... 300`` habit would have it: a requester back after a pause finds
nothing, long before ``retain_finished``."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.models import Reply, ReplyStatus
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("EXP-003", "COMPAT-007")


class ReplyExpiresInMinutes(RedisHub):
    def _reply(
        self,
        sender: str,
        message_id: str,
        token: str,
        payload_json: str,
        status: ReplyStatus,
        then: Then | None,
    ) -> tuple[Reply, Next | None]:
        reply, claimed = super()._reply(sender, message_id, token, payload_json, status, then)
        self.client.expire(self.keys.key("response", agent=reply.to_agent, id=message_id), 300)
        return reply, claimed


def implementation() -> RedisImplementation:
    return RedisImplementation(ReplyExpiresInMinutes, __name__)
