"""Any agent can drain any inbox: ``claim`` takes from another agent's inbox when named
(the design's queue reads filter on nothing but ``to_agent``)."""

from __future__ import annotations

from agentcomm import validation as v
from agentcomm.models import Claim
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("CLAIM-001",)


class InboxNotPrivate(SqliteHub):
    def claim_many(
        self, source: str | None = None, *, limit: int = 10, wait: float = 0.0
    ) -> list[Claim]:
        agent = self._require_agent()
        target = agent if source is None else v.check_target(source)
        v.check_batch(limit, "limit")
        wait = v.check_seconds("wait", wait, allow_zero=True)
        return (
            self._wait_for(
                lambda: self._claim(agent, target, limit) or None, wait, ("claim", target)
            )
            or []
        )


def implementation() -> Implementation:
    return Implementation(InboxNotPrivate, __name__)
