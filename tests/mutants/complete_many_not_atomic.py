"""``complete_many`` completes pair by pair, each in its own transaction: the pairs before
a refused one stay completed."""

from __future__ import annotations

from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("LEASE-008",)


class CompleteManyNotAtomic(SqliteHub):
    def _complete(self, pairs: list[tuple[str, str]]) -> None:
        for pair in pairs:
            super()._complete([pair])


def implementation() -> Implementation:
    return Implementation(CompleteManyNotAtomic, __name__)
