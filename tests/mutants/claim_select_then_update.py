"""Claim by SELECT, then UPDATE in a second transaction without re-checking the status.

The design's agent loop: it reads the best pending id, and a moment later marks it
``processing`` (``UPDATE ... WHERE id = $ID``, no ``AND status = 'pending'``).  Racers that
read in between claim the same message.
"""

from __future__ import annotations

import secrets
import time

from agentcomm.models import Claim
from agentcomm.sqlite import rows
from agentcomm.sqlite.hub import PROBE, SqliteHub
from agentcomm.sqlite.rows import MESSAGE_COLUMNS, iso
from mutants import Implementation

CATCHES = ("CLAIM-002",)

PICK = """
SELECT id FROM agent_messages
WHERE to_agent = :target AND status = 'pending' AND available_at <= :now
  AND (expires_at IS NULL OR expires_at > :now)
ORDER BY priority DESC, id LIMIT :limit
"""

TAKE = f"""
UPDATE agent_messages
SET status = 'processing', claimed_by = :agent, lease_token = :token,
    lease_expires_at = :now + coalesce(timeout_seconds, 300), processed_at = :now_iso
WHERE id = :id
RETURNING {MESSAGE_COLUMNS}
"""


class SelectThenUpdate(SqliteHub):
    def _claim(self, agent: str, target: str, limit: int) -> list[Claim]:
        now = self.clock.now()
        params = {"target": target, "now": now, "limit": limit}
        lapsed = self.store.query(PROBE, params)[0][1]
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
