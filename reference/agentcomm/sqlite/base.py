"""What every part of the SQLite hub stands on: its store, its statements, and the steps
several operations share inside one transaction (a message's row, the check that a token
holds its lease, settling lapsed leases to retry or dead-letter, leasing rows)."""

from __future__ import annotations

import json
import os
import sqlite3
from types import ModuleType

from agentcomm.api import Hub
from agentcomm.errors import AlreadyFinished, NotFound, StaleLease
from agentcomm.models import Status
from agentcomm.sqlite import rows
from agentcomm.sqlite.retention import STEP
from agentcomm.sqlite.rows import iso
from agentcomm.sqlite.store import Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import ClassVar


class SqliteBase(Hub):
    """The state and the shared steps of ``SqliteHub``, whose parts (messages, events,
    registry, maintenance) each build on this class."""

    sql: ClassVar[ModuleType]
    """Every statement the hub issues: ``SqliteHub.sql``."""
    store: Store

    # -- shared steps ------------------------------------------------------------------------
    def _lookup(self, message_id: str) -> sqlite3.Row:
        """The message row, read outside any transaction; NotFound if there is none."""
        found = self.store.query(self.sql.MESSAGE, (_rowid(message_id),))
        if not found:
            raise NotFound(f"unknown message id {message_id!r}")
        return found[0]

    def _row(self, conn: sqlite3.Connection, message_id: str) -> sqlite3.Row:
        found = conn.execute(self.sql.MESSAGE, (_rowid(message_id),)).fetchone()
        if found is None:
            raise NotFound(f"unknown message id {message_id!r}")
        return found  # type: ignore[no-any-return]

    def _leased(
        self, conn: sqlite3.Connection, message_id: str, token: str, now: float
    ) -> sqlite3.Row:
        """The message row, if ``token`` holds its live lease; else the precise refusal."""
        row = self._row(conn, message_id)
        if row["lease_token"] != token:
            raise StaleLease(
                f"token does not hold the lease on message {message_id!r}: it "
                f"was reclaimed or never granted (status {row['status']})"
            )
        if Status(row["status"]).finished:
            raise AlreadyFinished(f"message {message_id!r} is already {row['status']}")
        if row["lease_expires_at"] is None or row["lease_expires_at"] <= now:
            raise StaleLease(
                f"the lease on message {message_id!r} expired "
                f"{now - float(row['lease_expires_at'] or now):.3f}s ago"
            )
        return row

    def _settle_leases(self, conn: sqlite3.Connection, now: float) -> set[int]:
        """Up to ``STEP`` lapsed leases: back to pending after a backoff, or dead at
        ``max_retries``.  Returns the ids settled."""
        expired = conn.execute(self.sql.LAPSED_LEASES, {"now": now, "step": STEP}).fetchall()
        for row in expired:
            self._retry_or_bury(conn, row, "lease expired", now, retry=True, by_holder=False)
        return {int(row["id"]) for row in expired}

    def _settle_all(self, conn: sqlite3.Connection, now: float) -> None:
        """Every lapsed lease, in the caller's transaction (SPEC CLAIM-005)."""
        while len(self._settle_leases(conn, now)) == STEP:
            pass

    def _retry_or_bury(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        reason: str,
        now: float,
        *,
        retry: bool,
        by_holder: bool,
    ) -> None:
        retries = int(row["retry_count"] or 0)
        self._count(conn, "failed", 1)
        if retry and retries < rows.max_retries(row["max_retries"]):
            conn.execute(self.sql.RETRY, (now + self.settings.backoff(retries), reason, row["id"]))
            self._count(conn, "retried", 1)
            return
        # The holder who buries its own message keeps its token, so a second fail or
        # complete from it reads as AlreadyFinished; a lapsed holder reads StaleLease.
        self._count(conn, "dead", 1)  # the lifetime count doubles as the dead letter's place
        conn.execute(self.sql.BURY, (reason, now, by_holder, row["id"]))
        self._answer_death(conn, row["id"], reason, now)

    def _answer_death(
        self, conn: sqlite3.Connection, message_id: int, reason: str, now: float
    ) -> None:
        """SPEC REQ-007: a request (a correlation id and a deadline) that dies is answered,
        from the agent that held it last, so its requester stops waiting."""
        answer = json.dumps({"error": "dead_letter", "reason": reason}, ensure_ascii=False)
        if conn.execute(self.sql.ANSWER_DEATH, (answer, iso(now), message_id)).rowcount:
            conn.execute(self.sql.ANSWER_DEATH_LINK, (message_id,))

    def _count(self, conn: sqlite3.Connection, name: str, amount: int) -> None:
        if amount:
            conn.execute(self.sql.COUNT, (name, amount))

    def _claim_rows(
        self, conn: sqlite3.Connection, agent: str, target: str, limit: int, now: float
    ) -> tuple[str, list[sqlite3.Row]]:
        """Lease up to ``limit`` pending messages of ``target`` under one fresh token."""
        token = _new_token()
        params = _claim_params(agent, token, target, limit, now)
        return token, conn.execute(self.sql.CLAIM, params).fetchall()


def _new_token() -> str:
    return os.urandom(16).hex()  # as secrets.token_hex, without importing secrets


def _claim_params(agent: str, token: str, target: str, limit: int, now: float) -> dict[str, object]:
    return {
        "agent": agent,
        "token": token,
        "now": now,
        "now_iso": iso(now),
        "target": target,
        "limit": limit,
    }


def _rowid(message_id: str) -> int:
    """The row id a message id names; ids this hub never issued are NotFound."""
    if not _is_rowid(message_id):
        raise NotFound(f"unknown message id {message_id!r}")
    return int(message_id)


def _is_rowid(message_id: str) -> bool:
    # isdigit() alone accepts '²' and other scripts' digits, which int() reads differently.
    return message_id.isascii() and message_id.isdigit() and int(message_id) < 2**63
