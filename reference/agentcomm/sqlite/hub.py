"""The SQLite hub.  Each state change below is one ``Store.write()`` transaction.

Waiting callers poll ``PRAGMA data_version`` (shared memory, no lock) and retry their
operation only when another process has committed, so idle agents cost little and a
new message is seen within one poll interval.
"""

from __future__ import annotations

import json
import os
import sqlite3
from types import ModuleType
from typing import ClassVar

from agentcomm import validation as v
from agentcomm.api import Hub, Next, PreparedMessage, Then, Topic, next_source_refusal
from agentcomm.clock import Clock
from agentcomm.errors import AlreadyFinished, Conflict, NotFound, StaleLease
from agentcomm.models import AgentInfo, Claim, Event, Message, Reply, ReplyStatus, Stats, Status
from agentcomm.settings import HubSettings
from agentcomm.sqlite import rows, statements
from agentcomm.sqlite.retention import STEP
from agentcomm.sqlite.rows import from_iso, iso
from agentcomm.sqlite.store import Store

RECHECK_SECONDS = 0.25
"""Waiters retry at least this often: leases and backoffs end without any commit."""
EAGER_SECONDS = 0.05
"""A wait polls at ``poll_interval`` this long, then at ``IDLE_FACTOR`` times it: a busy
agent sees news within a poll, an idle one costs a quarter of the CPU (BENCHMARKS.md)."""
IDLE_FACTOR = 4


class SqliteHub(Hub):
    """A hub in one SQLite file, shared by any number of local processes."""

    capabilities = frozenset({"batch", "claim_next", "manual_clock"})
    sql: ClassVar[ModuleType] = statements
    """Every statement this hub issues (``statements``), read through the class so that a
    subclass can swap one (the mutants of ``tests/mutants`` do)."""

    def __init__(
        self,
        path: str,
        *,
        agent: str | None = None,
        settings: HubSettings | None = None,
        clock: Clock | None = None,
        create: bool = False,
    ) -> None:
        super().__init__(agent=agent, settings=settings, clock=clock)
        self.path = path
        self.store = Store(path, busy_timeout=self.settings.busy_timeout, create=create)

    def close(self) -> None:
        self.store.close()

    def __repr__(self) -> str:
        return f"SqliteHub({self.path!r}, agent={self.agent_id!r})"

    # -- messages ------------------------------------------------------------------------
    def _send(self, sender: str, items: list[PreparedMessage], now: float) -> list[Message]:
        created = iso(now)
        if len(items) == 1:  # one INSERT is atomic by itself
            _, last = self.store.write_one(
                self.sql.INSERT_MESSAGE, _insert_params(sender, items[0], created, now)
            )
            ids: list[int | None] = [last]
        else:
            with self.store.write() as conn:
                ids = [
                    conn.execute(
                        self.sql.INSERT_MESSAGE, _insert_params(sender, m, created, now)
                    ).lastrowid
                    for m in items
                ]
        return [
            _sent_message(str(i), sender, m, created, now) for i, m in zip(ids, items, strict=True)
        ]

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
            found, _ = self.store.write_one(self.sql.CLAIM, params)
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
        with self.store.write() as conn:
            targets = []
            for message_id, token in pairs:
                done = conn.execute(
                    self.sql.COMPLETE, (now, _rowid(message_id), token, now)
                ).fetchone()
                if done is None:
                    self._leased(conn, message_id, token, now)  # raises; all roll back
                targets.append(done[0])
            claimed = self._claim_next(conn, then, targets, now)
        return _next(claimed)

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

    # -- events ----------------------------------------------------------------------------
    def _publish(
        self, publisher: str, event_type: str, payload_json: str, ttl: float | None
    ) -> Event:
        now = self.clock.now()
        expires = None if ttl is None else now + ttl
        with self.store.write() as conn:
            event_id = conn.execute(
                self.sql.PUBLISH,
                (
                    event_type,
                    publisher,
                    payload_json,
                    iso(now),
                    None if expires is None else iso(expires),
                ),
            ).lastrowid
        return Event(
            str(event_id),
            event_type,
            publisher,
            v.decode_payload(payload_json),
            from_iso(iso(now)),
            None if expires is None else from_iso(iso(expires)),
        )

    def _subscribe(self, agent: str, event_type: str) -> None:
        now = self.clock.now()
        with self.store.write() as conn:
            # The cursor starts at the end of the log: only events published from now on.
            conn.execute(self.sql.SUBSCRIBE, (agent, event_type, iso(now)))

    def _unsubscribe(self, agent: str, event_type: str) -> None:
        with self.store.write() as conn:
            conn.execute(self.sql.UNSUBSCRIBE, (agent, event_type))

    def _subscriptions(self, agent: str) -> list[str]:
        found = self.store.query(self.sql.SUBSCRIPTIONS, (agent,))
        return [r[0] for r in found]

    def _read_events(self, agent: str, limit: int) -> list[Event]:
        params = {"agent": agent, "now_iso": iso(self.clock.now()), "limit": limit}
        if not self.store.query(self.sql.UNREAD_EVENTS, {**params, "limit": 1}):
            return []
        with self.store.write() as conn:
            found = conn.execute(self.sql.UNREAD_EVENTS, params).fetchall()
            cursors: dict[str, int] = {}
            for row in found:
                cursors[row["event_type"]] = int(row["id"])
            conn.executemany(
                self.sql.ADVANCE_CURSOR,
                [(last, agent, kind) for kind, last in cursors.items()],
            )
        return [rows.event(r) for r in found]

    def _tail_events(self, after: str | None, limit: int) -> list[Event]:
        if after is None:
            found = self.store.query(self.sql.LATEST_EVENTS, (limit,))
        else:
            found = self.store.query(self.sql.EVENTS_AFTER, (_rowid(after), limit))
        return [rows.event(r) for r in found]

    # -- registry ----------------------------------------------------------------------------
    def _register(
        self,
        agent: str,
        capabilities: tuple[str, ...],
        process_id: int | None,
        max_concurrent: int,
        ttl: float,
    ) -> AgentInfo:
        now = self.clock.now()
        with self.store.write() as conn:
            row = conn.execute(
                self.sql.REGISTER,
                (agent, iso(now), process_id, json.dumps(list(capabilities)), max_concurrent, ttl),
            ).fetchone()
        return rows.agent(row, now)

    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        now = self.clock.now()
        with self.store.write() as conn:
            row = conn.execute(self.sql.HEARTBEAT, (iso(now), load, agent)).fetchone()
        if row is None:
            raise NotFound(f"agent {agent!r} is not registered: register before heartbeating")
        return rows.agent(row, now)

    def _deregister(self, agent: str) -> None:
        with self.store.write() as conn:
            conn.execute(self.sql.DEREGISTER, (agent,))

    def _agents(self) -> list[AgentInfo]:
        now = self.clock.now()
        found = self.store.query(self.sql.AGENTS)
        return [rows.agent(r, now) for r in found]

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

    def _await_change(self, timeout: float, topic: Topic) -> None:
        start = self.clock.now()
        until = start + min(timeout, RECHECK_SECONDS)
        version = self.store.data_version()
        while (now := self.clock.now()) < until:
            eager = now - start < EAGER_SECONDS
            poll = self.settings.poll_interval * (1 if eager else IDLE_FACTOR)
            self.clock.sleep(min(poll, until - now))
            if self.store.data_version() != version:
                return

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


def _unreplayable(message_id: str, row: sqlite3.Row) -> Conflict:
    if row["status"] == "dead":  # SPEC REQ-007: its requester was answered; REQ-004: once
        return Conflict(
            f"request {message_id!r} died and its requester was answered so "
            f"(reply {row['response_id']}): send a new request instead"
        )
    return Conflict(f"message {message_id!r} is {row['status']}, not dead: nothing to replay")


Claimed = tuple[str, str, list[sqlite3.Row]]
"""A claim made in a finishing step: the target, the token, and the rows leased."""


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


def _claims(found: list[sqlite3.Row], token: str) -> list[Claim]:
    # RETURNING gives no order guarantee: restore (priority desc, id asc).
    found.sort(key=lambda r: (-int(r["priority"] or 0), int(r["id"])))
    return [Claim(rows.message(r), token, float(r["lease_expires_at"])) for r in found]


def _next(claimed: Claimed | None) -> Next | None:
    if claimed is None:
        return None
    target, token, found = claimed
    return Next(target, _claims(found, token))


def _rowid(message_id: str) -> int:
    """The row id a message id names; ids this hub never issued are NotFound."""
    if not _is_rowid(message_id):
        raise NotFound(f"unknown message id {message_id!r}")
    return int(message_id)


def _is_rowid(message_id: str) -> bool:
    # isdigit() alone accepts '²' and other scripts' digits, which int() reads differently.
    return message_id.isascii() and message_id.isdigit() and int(message_id) < 2**63


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


def _sent_message(
    message_id: str, sender: str, m: PreparedMessage, created: str, now: float
) -> Message:
    return Message(
        id=message_id,
        from_agent=sender,
        to_agent=m.to,
        type=m.type,
        payload=v.decode_payload(m.payload_json),
        status=Status.PENDING,
        priority=m.priority,
        created_at=from_iso(created),  # what get() reads back
        timeout_seconds=m.timeout_seconds,
        retry_count=0,
        max_retries=m.max_retries,
        correlation_id=m.correlation_id,
        expires_at=m.expires_at,
        available_at=now,
    )
