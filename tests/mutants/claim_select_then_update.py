"""Claim by SELECT, then UPDATE in a second transaction without re-checking the status.

The design's agent loop: it reads the best pending id, and a moment later marks it
``processing`` (``UPDATE ... WHERE id = $ID``, no ``AND status = 'pending'``).  Racers that
read in between claim the same message.
"""

from __future__ import annotations

import re
import secrets
import time

from agentcomm.models import Claim
from agentcomm.sqlite import rows, statements
from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.rows import iso
from mutants import Implementation

CATCHES = ("CLAIM-002",)

_SUBSELECT = re.search(r"\((SELECT id FROM .*?LIMIT :limit)\)", statements.CLAIM, re.DOTALL)
assert _SUBSELECT is not None
PICK = _SUBSELECT[1]
"""The rows the reference's claim takes: the best pending ones, read on their own."""
TAKE = statements.CLAIM.replace(f"IN ({PICK})", "= :id")
"""The reference's claim of one row, by id, whatever its status meanwhile."""
assert TAKE != statements.CLAIM


class SelectThenUpdate(SqliteHub):
    def _claim(self, agent: str, target: str, limit: int) -> list[Claim]:
        now = self.clock.now()
        params = {"target": target, "now": now, "limit": limit}
        lapsed = self.store.query(self.sql.PROBE, params)[0][1]
        if lapsed:
            with self.store.write() as conn:
                self._settle_leases(conn, now)
        picked = [int(r["id"]) for r in self.store.query(PICK, params)]
        if not picked:
            return []
        time.sleep(0.001)  # the round trip between the design's SELECT and its UPDATE
        token = secrets.token_hex(16)
        with self.store.write() as conn:
            found = [
                conn.execute(
                    TAKE, {"agent": agent, "token": token, "now": now, "now_iso": iso(now), "id": i}
                ).fetchone()
                for i in picked
            ]
        return [Claim(rows.message(r), token, float(r["lease_expires_at"])) for r in found]


def implementation() -> Implementation:
    return Implementation(SelectThenUpdate, __name__)
