"""Redis: ``complete_many`` over the messages of several targets files every one in the
finished set of the batch's first target (one ``ZADD`` for the batch, not one per target):
``stats``, which counts completions from those sets, counts them under the wrong target."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.redis.hub import RedisHub
from mutants import RedisImplementation

CATCHES = ("LEASE-008", "PRIO-003")


class FinishedUnderOneTarget(RedisHub):
    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        message = self.keys.key
        targets = [self.client.hget(message("message", id=m), "to_agent") for m, _ in pairs]
        claimed = super()._complete(pairs, then)
        first = message("finished", target=str(targets[0]))
        for (message_id, _), target in zip(pairs, targets, strict=True):
            finished = message("finished", target=str(target))
            score = self.client.zscore(finished, message_id)
            if finished != first and score is not None:
                self.client.zrem(finished, message_id)
                self.client.zadd(first, {message_id: score})
        return claimed


def implementation() -> RedisImplementation:
    return RedisImplementation(FinishedUnderOneTarget, __name__)
