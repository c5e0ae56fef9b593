"""``extend`` answers with the new deadline but never stores it: the lease lapses at the
old one, and the task is handed to another worker while its holder still works."""

from __future__ import annotations

from agentcomm.models import Claim
from agentcomm.sqlite import rows
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("LEASE-004",)


class ExtendForgotten(SqliteHub):
    def _extend(self, message_id: str, token: str, seconds: float | None) -> Claim:
        now = self.clock.now()
        with self.store.write() as conn:
            row = self._leased(conn, message_id, token, now)
        until = now + (seconds if seconds is not None else float(row["timeout_seconds"]))
        return Claim(rows.message(row), token, until)


def implementation() -> Implementation:
    return Implementation(ExtendForgotten, __name__)
