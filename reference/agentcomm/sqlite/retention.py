"""Retention (what ``prune`` deletes) and the depth report of ``stats``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from types import ModuleType

from agentcomm.settings import HubSettings
from agentcomm.sqlite.rows import iso
from agentcomm.sqlite.statements import each
from agentcomm.sqlite.store import Store

STEP = 200
"""Rows one transaction of ``prune`` (or ``sweep``) deletes or changes: a few
milliseconds of the write lock, so maintenance never stalls the agents (BENCHMARKS.md)."""


def prune(store: Store, now: float, settings: HubSettings, sql: ModuleType) -> dict[str, int]:
    """Delete finished messages with their replies, old events and long-gone agents, in
    steps of ``STEP`` rows, with the statements of ``sql`` (the hub's ``statements``).

    Pending and processing messages and dead letters are never pruned: only a person
    (``purge_dead``) may drop work that was never done.
    """
    cutoff = (now - settings.retain_finished,)
    messages, replies = 0, 0
    for step in _found(store, sql.DONE_MESSAGES, cutoff):
        with store.write() as conn:
            gone, answered = _drop_messages(conn, sql, step, cutoff)
        messages, replies = messages + gone, replies + answered
    event_cutoff = (iso(now - settings.retain_events), iso(now))
    events = _delete(store, sql.OLD_EVENTS, sql.DROP_EVENTS, event_cutoff)
    agents = _delete(store, sql.GONE_AGENTS, sql.DROP_AGENTS, (iso(cutoff[0]),))
    return {"messages": messages, "replies": replies, "events": events, "agents": agents}


def _found(store: Store, select: str, params: tuple[object, ...]) -> Iterator[list[object]]:
    """The keys ``select`` finds, read once without taking the write lock, in steps."""
    keys = [row[0] for row in store.query(select, params)]
    for start in range(0, len(keys), STEP):
        yield keys[start : start + STEP]


def _delete(store: Store, select: str, delete: str, params: tuple[object, ...]) -> int:
    """Delete the rows ``select`` finds, a step per transaction, each step checking the
    condition again in ``delete`` (another process may have changed a row)."""
    deleted = 0
    for step in _found(store, select, params):
        with store.write() as conn:
            deleted += conn.execute(each(delete, len(step)), [*step, *params]).rowcount
    return deleted


def _drop_messages(
    conn: sqlite3.Connection, sql: ModuleType, ids: list[object], cutoff: tuple[object, ...]
) -> tuple[int, int]:
    """Delete these finished messages (those still past retention) and their replies."""
    params = [*ids, *cutoff]
    replies = conn.execute(each(sql.DROP_REPLIES, len(ids)), params).rowcount
    gone = conn.execute(each(sql.DONE_COMPLETED, len(ids)), params).fetchone()[0]
    messages = conn.execute(each(sql.DROP_MESSAGES, len(ids)), params).rowcount
    # Lifetime 'completed' is live rows plus pruned ones (see totals()).
    conn.execute(sql.COUNT_PRUNED, (gone,))
    return int(messages), int(replies)


def depths(conn: sqlite3.Connection, sql: ModuleType) -> dict[str, dict[str, int]]:
    """Messages per target (agent inbox or queue) and status; pending also per priority."""
    found: dict[str, dict[str, int]] = {}
    for row in conn.execute(sql.DEPTHS):
        target, status, priority, n = row[0], row[1], int(row[2] or 0), int(row[3])
        per = found.setdefault(target, {})
        per[status] = per.get(status, 0) + n
        if status == "pending":
            level = ("low", "normal", "high")[min(max(priority, 0), 2)]
            per[f"pending_{level}"] = per.get(f"pending_{level}", 0) + n
    return found


def totals(conn: sqlite3.Connection, sql: ModuleType) -> dict[str, int]:
    """Lifetime counters.  The hot-path ones are derived, not written on every send,
    claim and complete: ``sent`` and ``published`` from the AUTOINCREMENT sequences,
    ``completed`` from live rows plus those pruned.  Rare events (failed, retried, dead,
    expired) are counted in ``agent_counters`` by the transaction that causes them."""
    stored = {r[0]: int(r[1]) for r in conn.execute(sql.COUNTERS)}
    seqs = {r[0]: int(r[1]) for r in conn.execute(sql.SEQUENCES)}
    live = conn.execute(sql.COMPLETED).fetchone()[0]
    found = {name: stored.get(name, 0) for name in ("failed", "retried", "dead", "expired")}
    found["sent"] = seqs.get("agent_messages", 0)
    found["published"] = seqs.get("agent_events", 0)
    found["completed"] = int(live) + stored.get("pruned_completed", 0)
    return found
