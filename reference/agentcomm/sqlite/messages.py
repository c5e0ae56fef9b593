"""Messages and their leases in the SQLite hub: send and read them, claim, extend, the
finishing steps (complete, reply, fail, release, each with the next claim it may make in
its transaction), and dead letters (list, replay, purge)."""

from __future__ import annotations

import sqlite3

from agentcomm import validation as v
from agentcomm.api import Next, PreparedMessage, Then, next_source_refusal
from agentcomm.errors import Conflict, StaleLease
from agentcomm.models import Claim, Message, Reply, ReplyStatus
from agentcomm.prepared import payloads
from agentcomm.sqlite import rows
from agentcomm.sqlite.base import SqliteBase, _claim_params, _is_rowid, _new_token, _rowid
from agentcomm.sqlite.rows import from_iso, iso


class Messages(SqliteBase):
    """The SQLite hub's message and lease primitives."""

    # -- messages ------------------------------------------------------------------------
    def _send(self, sender: str, items: list[PreparedMessage], now: float) -> list[Message]:
        created = iso(now)
        params = [_insert_params(sender, m, created, now) for m in items]
        if len(items) == 1:  # one INSERT is atomic by itself
            _, last = self.store.write_one(self.sql.INSERT_MESSAGE, params[0])
            ids = [last]
        elif len(items) <= INSERT_ROWS:  # so is one INSERT of many rows
            sql = self.sql.insert_messages(len(items))
            found, _ = self.store.write_one(sql, _flat(params), batch=True)
            ids = sorted(row[0] for row in found)  # issued in the order of the rows
        else:
            with self.store.write(batch=True) as conn:
                ids = [
                    i for chunk in _chunks(params, INSERT_ROWS) for i in self._insert(conn, chunk)
                ]
        created_at = from_iso(created)  # what get() reads back
        return [
            m.sent(str(i), sender, created_at, now, m.expires_at, payload)
            for i, m, payload in zip(ids, items, payloads(items), strict=True)
        ]

    def _insert(self, conn: sqlite3.Connection, params: list[Row]) -> list[int]:
        found = conn.execute(self.sql.insert_messages(len(params)), _flat(params)).fetchall()
        return sorted(row[0] for row in found)

    def _get(self, message_id: str) -> Message:
        return rows.message(self._lookup(message_id))

    def _get_reply(self, request_id: str) -> Reply | None:
        found = self.store.query(self.sql.REPLY, (_rowid(request_id),))
        if found:
            return rows.reply(found[0])
        self._lookup(request_id)  # NotFound for an unknown request
        return None

    # -- claiming ------------------------------------------------------------------------
    def _claim(self, agent: str, target: str, limit: int) -> list[Claim]:
        now = self.clock.now()
        # A read first: waiters must not queue for the write lock just to find nothing.
        claimable, lapsed = self.store.query(self.sql.PROBE, {"target": target, "now": now})[0]
        if not (claimable or lapsed):
            return []
        if not lapsed:  # one UPDATE ... RETURNING is atomic by itself
            token = _new_token()
            params = _claim_params(agent, token, target, limit, now)
            found, _ = self.store.write_one(self.sql.CLAIM, params, batch=limit > 1)
            return _claims(found, token)
        with self.store.write() as conn:
            self._settle_all(conn, now)
            token, rows_found = self._claim_rows(conn, agent, target, limit, now)
        return _claims(rows_found, token)

    def _extend(self, message_id: str, token: str, seconds: float | None) -> Claim:
        now = self.clock.now()
        with self.store.write() as conn:
            row = self._leased(conn, message_id, token, now)
            until = now + (seconds if seconds is not None else float(row["timeout_seconds"]))
            conn.execute(self.sql.EXTEND, (until, row["id"]))
        return Claim(rows.message(row), token, until)

    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        now = self.clock.now()
        batch = len(pairs) > 1 or (then is not None and then.limit > 1)
        try:
            with self.store.write(batch=batch) as conn:
                targets = self._finish_held(conn, pairs, now)
                claimed = self._claim_next(conn, then, targets, now)
        except _Unfinished:  # rolled back; again, one by one, to word the first refusal
            with self.store.write(batch=batch) as conn:
                targets = [self._finish(conn, *pair, now) for pair in pairs]
                claimed = self._claim_next(conn, then, targets, now)
        return _next(claimed)

    def _finish_held(
        self, conn: sqlite3.Connection, pairs: list[tuple[str, str]], now: float
    ) -> list[str]:
        """Complete every message of ``pairs``, one statement per token (a batch claimed
        together shares one), and return their targets; ``_Unfinished`` if any is not."""
        if not all(_is_rowid(message_id) for message_id, _ in pairs):
            raise _Unfinished
        by_token: dict[str, list[int]] = {}
        for message_id, token in pairs:
            by_token.setdefault(token, []).append(int(message_id))
        target_of: dict[int, str] = {}
        for token, ids in by_token.items():
            for chunk in _chunks(ids, INSERT_ROWS):
                sql = self.sql.each(self.sql.COMPLETE_HELD, len(chunk))
                target_of.update(conn.execute(sql, (now, token, now, *chunk)).fetchall())
        if len(target_of) != len(pairs):  # a refusal, or an id named twice
            raise _Unfinished
        return [target_of[int(message_id)] for message_id, _ in pairs]

    def _finish(self, conn: sqlite3.Connection, message_id: str, token: str, now: float) -> str:
        """Complete one message and return its target, or raise its precise refusal."""
        done = conn.execute(self.sql.COMPLETE, (now, _rowid(message_id), token, now)).fetchone()
        if done is None:
            self._leased(conn, message_id, token, now)  # raises; all roll back
            raise StaleLease(f"token does not hold the lease on message {message_id!r}")
        return str(done[0])

    def _reply(
        self,
        sender: str,
        message_id: str,
        token: str,
        payload_json: str,
        status: ReplyStatus,
        then: Then | None,
    ) -> tuple[Reply, Next | None]:
        now = self.clock.now()
        with self.store.write() as conn:
            row = self._leased(conn, message_id, token, now)
            reply_id = conn.execute(
                self.sql.INSERT_REPLY,
                (row["id"], sender, row["from_agent"], payload_json, status.value, iso(now)),
            ).lastrowid
            conn.execute(self.sql.ANSWERED, (now, reply_id, row["id"]))
            claimed = self._claim_next(conn, then, [row["to_agent"]], now)
        answer = Reply(
            str(reply_id),
            message_id,
            sender,
            row["from_agent"],
            v.decode_payload(payload_json),
            status,
            from_iso(iso(now)),
            row["correlation_id"],
        )
        return answer, _next(claimed)

    def _fail(
        self, message_id: str, token: str, reason: str, retry: bool, then: Then | None
    ) -> tuple[Message, Next | None]:
        now = self.clock.now()
        with self.store.write() as conn:
            row = self._leased(conn, message_id, token, now)
            self._retry_or_bury(conn, row, reason, now, retry=retry, by_holder=True)
            state = rows.message(self._row(conn, message_id))
            claimed = self._claim_next(conn, then, [row["to_agent"]], now)
        return state, _next(claimed)

    def _release(
        self, message_id: str, token: str, then: Then | None
    ) -> tuple[Message, Next | None]:
        now = self.clock.now()
        with self.store.write() as conn:
            row = self._leased(conn, message_id, token, now)
            conn.execute(self.sql.RELEASE, (now, row["id"]))
            state = rows.message(self._row(conn, message_id))
            claimed = self._claim_next(conn, then, [row["to_agent"]], now)
        return state, _next(claimed)

    def _claim_next(
        self, conn: sqlite3.Connection, then: Then | None, targets: list[str], now: float
    ) -> Claimed | None:
        """The next claim of a finishing step (SPEC CLAIM-009), in its transaction."""
        if then is None:
            return None
        refusal = next_source_refusal(then.agent, targets)
        if refusal is not None:
            raise refusal  # the finish rolls back with it
        self._settle_all(conn, now)
        return (targets[0], *self._claim_rows(conn, then.agent, targets[0], then.limit, now))

    # -- dead letters ----------------------------------------------------------------------
    def _dead_letters(self, limit: int) -> list[Message]:
        found = self.store.query(self.sql.DEAD_LETTERS, (limit,))
        return [rows.message(r) for r in found]

    def _replay(self, message_id: str) -> Message:
        now = self.clock.now()
        with self.store.write() as conn:
            found = conn.execute(self.sql.REPLAY, (now, _rowid(message_id))).fetchone()
            if found is None:
                raise _unreplayable(message_id, self._row(conn, message_id))
        return rows.message(found)

    def _purge_dead(self, message_ids: list[str] | None) -> int:
        # The hub's answers to requests that died (REQ-007) go with them.
        with self.store.write() as conn:
            if message_ids is None:
                conn.execute(self.sql.PURGE_ALL_REPLIES)
                return int(conn.execute(self.sql.PURGE_ALL).rowcount)
            params = [(int(m),) for m in message_ids if _is_rowid(m)]
            conn.executemany(self.sql.PURGE_REPLIES, params)
            return int(conn.executemany(self.sql.PURGE, params).rowcount)


def _unreplayable(message_id: str, row: sqlite3.Row) -> Conflict:
    if row["status"] == "dead":  # SPEC REQ-007: its requester was answered; REQ-004: once
        return Conflict(
            f"request {message_id!r} died and its requester was answered so "
            f"(reply {row['response_id']}): send a new request instead"
        )
    return Conflict(f"message {message_id!r} is {row['status']}, not dead: nothing to replay")


Claimed = tuple[str, str, list[sqlite3.Row]]
"""A claim made in a finishing step: the target, the token, and the rows leased."""


def _claims(found: list[sqlite3.Row], token: str) -> list[Claim]:
    # RETURNING gives no order guarantee: restore (priority desc, id asc).
    found.sort(key=lambda r: (-int(r[rows.PRIORITY] or 0), int(r[rows.ID])))
    return [rows.claim(r, token) for r in found]


def _next(claimed: Claimed | None) -> Next | None:
    if claimed is None:
        return None
    target, token, found = claimed
    return Next(target, _claims(found, token))


def _insert_params(sender: str, m: PreparedMessage, created: str, now: float) -> tuple[object, ...]:
    return (
        sender,
        m.to,
        m.type,
        m.payload_json,
        int(m.priority),
        created,
        m.timeout_seconds,
        m.max_retries,
        m.correlation_id,
        m.expires_at,
        now,
    )


INSERT_ROWS = 1000
"""Messages per INSERT: 11,000 bound values, a third of what the oldest SQLite this hub
runs on allows in one statement (32,766)."""


TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")
Row = tuple[object, ...]


class _Unfinished(Exception):
    """Not every message of a batch completed: its transaction rolls back."""


def _flat(params: list[Row]) -> list[object]:
    return [value for row in params for value in row]


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
