"""Retention (what ``prune`` deletes) and the depth report of ``stats``."""

from __future__ import annotations

import sqlite3

from agentcomm.settings import HubSettings
from agentcomm.sqlite.rows import iso

DONE = "status IN ('completed', 'expired') AND finished_at < :cutoff"


def prune(conn: sqlite3.Connection, now: float, settings: HubSettings) -> dict[str, int]:
    """Delete finished messages with their replies, old events and long-gone agents.

    Pending and processing messages and dead letters are never pruned: only a person
    (``purge_dead``) may drop work that was never done.
    """
    cutoff = now - settings.retain_finished
    params = {"cutoff": cutoff}
    replies = conn.execute(
        f"DELETE FROM agent_responses WHERE request_id IN"
        f" (SELECT id FROM agent_messages WHERE {DONE})", params).rowcount
    messages = conn.execute(f"DELETE FROM agent_messages WHERE {DONE}", params).rowcount
    events = conn.execute(
        "DELETE FROM agent_events WHERE published_at < ?"
        " OR (expires_at IS NOT NULL AND expires_at <= ?)",
        (iso(now - settings.retain_events), iso(now))).rowcount
    agents = conn.execute(
        "DELETE FROM agent_registry WHERE status = 'inactive' AND last_heartbeat < ?",
        (iso(cutoff),)).rowcount
    return {"messages": messages, "replies": replies, "events": events, "agents": agents}


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
