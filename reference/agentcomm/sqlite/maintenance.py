"""Maintenance of the SQLite hub: sweep (lapsed leases and overdue messages), prune
(retention), and stats."""

from __future__ import annotations

from agentcomm.models import Stats
from agentcomm.sqlite.base import SqliteBase
from agentcomm.sqlite.retention import STEP


class Maintenance(SqliteBase):
    """The SQLite hub's maintenance primitives."""

    # -- maintenance -------------------------------------------------------------------------
    def _sweep(self) -> int:
        """Settle lapsed leases, then expire overdue messages, ``STEP`` per transaction,
        so that the write lock is never held for long."""
        now, settled, expired = self.clock.now(), set(), set()
        while True:
            with self.store.write() as conn:
                found = self._settle_leases(conn, now)
            settled |= found
            if len(found) < STEP:
                break
        while True:
            with self.store.write() as conn:
                found = {row[0] for row in conn.execute(self.sql.EXPIRE_STEP, (now, now, STEP))}
                self._count(conn, "expired", len(found))
            expired |= found
            if len(found) < STEP:
                break
        # A lease that lapsed past the deadline is settled, then expired: one message.
        return len(settled | expired)

    def _prune(self) -> dict[str, int]:
        from agentcomm.sqlite.retention import prune

        return prune(self.store, self.clock.now(), self.settings, self.sql)

    def _stats(self) -> Stats:
        from agentcomm.sqlite.retention import depths, totals

        found, counters = self.store.snapshot(
            lambda conn: (depths(conn, self.sql), totals(conn, self.sql))
        )
        known = self._agents()
        return Stats(found, counters, sum(a.alive for a in known), len(known))
