"""``complete_many`` completes pair by pair, each in its own transaction: the pairs before
a refused one stay completed."""

from __future__ import annotations

from agentcomm.api import Next, Then
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("LEASE-008",)


class CompleteManyNotAtomic(SqliteHub):
    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        found = None
        for i, pair in enumerate(pairs):
            found = super()._complete([pair], then if i == len(pairs) - 1 else None)
        return found


def implementation() -> Implementation:
    return Implementation(CompleteManyNotAtomic, __name__)
