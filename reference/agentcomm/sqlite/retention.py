"""Retention (what ``prune`` deletes) and the depth report of ``stats``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from agentcomm.settings import HubSettings
from agentcomm.sqlite.rows import iso
from agentcomm.sqlite.store import Store

STEP = 200
"""Rows one transaction of ``prune`` (or ``sweep``) deletes or changes: a few
milliseconds of the write lock, so maintenance never stalls the agents (BENCHMARKS.md)."""

DONE = "status IN ('completed', 'expired') AND finished_at < ?"
OLD_EVENT = "published_at < ? OR (expires_at IS NOT NULL AND expires_at <= ?)"
GONE_AGENT = "status = 'inactive' AND last_heartbeat < ?"


def prune(store: Store, now: float, settings: HubSettings) -> dict[str, int]:
    """Delete finished messages with their replies, old events and long-gone agents, in
    steps of ``STEP`` rows.

    Pending and processing messages and dead letters are never pruned: only a person
    (``purge_dead``) may drop work that was never done.
    """
    cutoff = (now - settings.retain_finished,)
    messages, replies = 0, 0
    for step in _found(store, f"SELECT id FROM agent_messages WHERE {DONE}", cutoff):
        with store.write() as conn:
            gone, answered = _drop_messages(conn, step, cutoff)
        messages, replies = messages + gone, replies + answered
    event_cutoff = (iso(now - settings.retain_events), iso(now))
    events = _delete(store, "agent_events", "id", OLD_EVENT, event_cutoff)
    agents = _delete(store, "agent_registry", "agent_id", GONE_AGENT, (iso(cutoff[0]),))
    return {"messages": messages, "replies": replies, "events": events, "agents": agents}


def _found(store: Store, select: str, params: tuple[object, ...]) -> Iterator[list[object]]:
    """The keys ``select`` finds, read once without taking the write lock, in steps."""
    keys = [row[0] for row in store.query(select, params)]
    for start in range(0, len(keys), STEP):
        yield keys[start : start + STEP]


def _delete(store: Store, table: str, key: str, condition: str, params: tuple[object, ...]) -> int:
    """Delete the rows of ``table`` meeting ``condition``, a step per transaction, each
    step checking the condition again (another process may have changed a row)."""
    deleted = 0
    for step in _found(store, f"SELECT {key} FROM {table} WHERE {condition}", params):
        marks = ",".join("?" * len(step))
        with store.write() as conn:
            deleted += conn.execute(
                f"DELETE FROM {table} WHERE {key} IN ({marks}) AND ({condition})", [*step, *params]
            ).rowcount
    return deleted


def _drop_messages(
    conn: sqlite3.Connection, ids: list[object], cutoff: tuple[object, ...]
) -> tuple[int, int]:
    """Delete these finished messages (those still past retention) and their replies."""
    keep = f"id IN ({','.join('?' * len(ids))}) AND {DONE}"
    params = [*ids, *cutoff]
    replies = conn.execute(
        f"DELETE FROM agent_responses WHERE request_id IN"
        f" (SELECT id FROM agent_messages WHERE {keep})",
        params,
    ).rowcount
    gone = conn.execute(
        f"SELECT count(*) FROM agent_messages WHERE {keep} AND status = 'completed'", params
    ).fetchone()[0]
    messages = conn.execute(f"DELETE FROM agent_messages WHERE {keep}", params).rowcount
    # Lifetime 'completed' is live rows plus pruned ones (see totals()).
    conn.execute(
        "INSERT INTO agent_counters (name, value) VALUES ('pruned_completed', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        (gone,),
    )
    return int(messages), int(replies)


def depths(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Messages per target (agent inbox or queue) and status; pending also per priority."""
    found: dict[str, dict[str, int]] = {}
    for row in conn.execute(
        "SELECT to_agent, status, priority, count(*) FROM agent_messages"
        " GROUP BY to_agent, status, priority"
    ):
        target, status, priority, n = row[0], row[1], int(row[2] or 0), int(row[3])
        per = found.setdefault(target, {})
        per[status] = per.get(status, 0) + n
        if status == "pending":
            level = ("low", "normal", "high")[min(max(priority, 0), 2)]
            per[f"pending_{level}"] = per.get(f"pending_{level}", 0) + n
    return found


def totals(conn: sqlite3.Connection) -> dict[str, int]:
    """Lifetime counters.  The hot-path ones are derived, not written on every send,
    claim and complete: ``sent`` and ``published`` from the AUTOINCREMENT sequences,
    ``completed`` from live rows plus those pruned.  Rare events (failed, retried, dead,
    expired) are counted in ``agent_counters`` by the transaction that causes them."""
    stored = {r[0]: int(r[1]) for r in conn.execute("SELECT name, value FROM agent_counters")}
    seqs = {r[0]: int(r[1]) for r in conn.execute("SELECT name, seq FROM sqlite_sequence")}
    live = conn.execute(
        "SELECT count(*) FROM agent_messages WHERE status = 'completed'"
    ).fetchone()[0]
    found = {name: stored.get(name, 0) for name in ("failed", "retried", "dead", "expired")}
    found["sent"] = seqs.get("agent_messages", 0)
    found["published"] = seqs.get("agent_events", 0)
    found["completed"] = int(live) + stored.get("pruned_completed", 0)
    return found
