"""``claim_next`` in two steps: the next message is claimed first, in its own
transaction, and the finish follows in another.  A finish that is then refused leaves the
next message leased to nobody who knows it, until its lease runs out."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("CLAIM-009",)


class ClaimNextBeforeFinish(SqliteHub):
    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        if then is None:
            return super()._complete(pairs, None)
        target = self.get(pairs[0][0]).to_agent
        claims = self._claim(then.agent, target, then.limit)
        super()._complete(pairs, None)
        return Next(target, claims)


def implementation() -> Implementation:
    return Implementation(ClaimNextBeforeFinish, __name__)
