"""Every SQL statement of the SQLite hub, defined once, as ``redis/keys.py`` is every key.

Each value is a bound parameter (SPEC COMPAT-005): a statement here is constant text,
composed at import from the fragments below and from the one Python definition of a
default (``HubSettings``), never from a value a caller gave.  Two kinds of placeholder
appear: ``?`` (bound by position, ``?1`` by number) and ``:name`` (bound by name).  The
prune steps delete a list of keys; ``each`` writes that list's ``?`` marks.

The hub reads its statements through ``SqliteHub.sql`` (this module), so a deliberately
broken hub (``tests/mutants``) can swap one statement and keep everything else.

Not here: the schema and its versions (``schema.sql``, ``migrations.py``, DDL rather than
statements) and the connection's PRAGMAs (``store.py``, set-up rather than hub work;
``PRAGMA user_version = N`` cannot take a bound parameter).
"""

from __future__ import annotations

from agentcomm.settings import HubSettings
from agentcomm.sqlite.rows import MESSAGE_COLUMNS

_TIMEOUT = f"{HubSettings.default_timeout:g}"
# The lease of a message without its own timeout_seconds (a row the design's INSERT made):
# the design's 300, the one default of HubSettings.default_timeout.

# -- transactions (store.py) ----------------------------------------------------------
BEGIN_WRITE = "BEGIN IMMEDIATE"
"""Every state change: takes the write lock up front, so a busy file fails definitely here."""
BEGIN_READ = "BEGIN"
"""A read of several statements that must see one snapshot (``Store.snapshot``)."""
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
TABLES = "SELECT name FROM sqlite_master"
"""Every table (and index, trigger) of the file: is it a hub, or something else? (ERR-004)"""

# -- fragments ---------------------------------------------------------------------------
LAPSED = f"""
status = 'processing' AND (lease_expires_at <= :now
    OR (lease_expires_at IS NULL AND (julianday(coalesce(processed_at, created_at))
        - 2440587.5) * 86400.0 + coalesce(timeout_seconds, {_TIMEOUT}) <= :now))
"""
"""A lapsed lease.  A message the design's own UPDATE set 'processing' holds none: its
lease is taken to end ``timeout_seconds`` after its ``processed_at`` (or, where the
design's agent loop left that empty, its ``created_at``), so sweep reclaims it."""

EVENT_COLUMNS = "id, event_type, publisher, payload, published_at, expires_at"

DONE = "status IN ('completed', 'expired') AND finished_at < ?"
"""A finished message past retention (EXP-003); dead letters never are (DLQ-004)."""
OLD_EVENT = "published_at < ? OR (expires_at IS NOT NULL AND expires_at <= ?)"
"""An event past retention or its own expiry (EXP-004)."""
GONE_AGENT = "status = 'inactive' AND last_heartbeat < ?"
"""An agent that deregistered and was not heard from since, past retention (EXP-004)."""

# -- messages ----------------------------------------------------------------------------
_INSERT_INTO = """
INSERT INTO agent_messages (from_agent, to_agent, message_type, payload, status, priority,
    created_at, timeout_seconds, retry_count, max_retries, correlation_id, expires_at,
    available_at)
VALUES """
MESSAGE_ROW = "(?, ?, ?, ?, 'pending', ?, ?, ?, 0, ?, ?, ?, ?)"
"""The values of one message, in ``INSERT_MESSAGES`` as many times as it queues."""

INSERT_MESSAGE = _INSERT_INTO + MESSAGE_ROW
"""Queue one message (MSG-001); one statement, so a single send is atomic by itself."""

INSERT_MESSAGES = _INSERT_INTO + "{rows} RETURNING id"
"""Queue several messages in one statement (MSG-004), their ids issued in the order of the
rows; ``rows()`` fills in the rows."""

MESSAGE = f"SELECT {MESSAGE_COLUMNS} FROM agent_messages WHERE id = ?"
"""One message by id (``get``, and the row a finishing step checks the lease of)."""

REPLY = (
    "SELECT r.*, m.correlation_id FROM agent_responses r"
    " JOIN agent_messages m ON m.id = r.request_id"
    " WHERE r.request_id = ? ORDER BY r.id LIMIT 1"
)
"""The reply to a request, found by the request's message id (REQ-002), the first if the
design's own scripts added more (REQ-004)."""

# -- claiming ----------------------------------------------------------------------------
PROBE = f"""
SELECT EXISTS (SELECT 1 FROM agent_messages
               WHERE to_agent = :target AND status = 'pending' AND available_at <= :now
                 AND (expires_at IS NULL OR expires_at > :now)),
       EXISTS (SELECT 1 FROM agent_messages WHERE {LAPSED})
"""
"""Is anything claimable, is any lease lapsed?  A read, so that waiters do not queue for
the write lock just to find nothing (CLAIM-007)."""

CLAIM = f"""
UPDATE agent_messages
SET status = 'processing', claimed_by = :agent, lease_token = :token,
    lease_expires_at = :now + coalesce(timeout_seconds, {_TIMEOUT}), processed_at = :now_iso
WHERE id IN (SELECT id FROM agent_messages
             WHERE to_agent = :target AND status = 'pending' AND available_at <= :now
               AND (expires_at IS NULL OR expires_at > :now)
             ORDER BY priority DESC, id LIMIT :limit)
RETURNING {MESSAGE_COLUMNS}
"""
"""Lease up to ``:limit`` claimable messages of one target under one token, highest
priority first, then in send order (CLAIM-002, CLAIM-003, PRIO-001, ORD-001, EXP-001)."""

LAPSED_LEASES = (
    f"SELECT id, retry_count, max_retries FROM agent_messages WHERE {LAPSED} LIMIT :step"
)
"""Up to ``:step`` lapsed leases, to settle before claiming (CLAIM-005) or by sweep."""

EXTEND = "UPDATE agent_messages SET lease_expires_at = ? WHERE id = ?"
"""Renew a lease its holder proved it holds (LEASE-004)."""

# -- finishing ---------------------------------------------------------------------------
COMPLETE = """
UPDATE agent_messages SET status = 'completed', finished_at = ?
WHERE id = ? AND lease_token = ? AND status = 'processing' AND lease_expires_at > ?
RETURNING to_agent
"""
"""Complete a message if the token holds its live lease (LEASE-001, LEASE-002); no row
back means a refusal, which the caller then words precisely (LEASE-003)."""

COMPLETE_HELD = """
UPDATE agent_messages SET status = 'completed', finished_at = ?
WHERE lease_token = ? AND status = 'processing' AND lease_expires_at > ? AND id IN ({ids})
RETURNING id, to_agent
"""
"""Complete the messages that one token holds the live leases of (``complete_many``: a
batch claimed together shares its token); fewer rows back than ids means a refusal."""

INSERT_REPLY = (
    "INSERT INTO agent_responses (request_id, from_agent, to_agent,"
    " response_payload, response_status, created_at) VALUES (?, ?, ?, ?, ?, ?)"
)
"""Store a reply to a request (REQ-003)."""

ANSWERED = (
    "UPDATE agent_messages SET status = 'completed', finished_at = ?, response_id = ? WHERE id = ?"
)
"""Complete the request a reply answers, in the reply's transaction (REQ-003)."""

RELEASE = (
    "UPDATE agent_messages SET status = 'pending', available_at = ?,"
    " lease_token = NULL, lease_expires_at = NULL, claimed_by = NULL"
    " WHERE id = ?"
)
"""Hand a message back, claimable at once, no retry spent (LEASE-005)."""

RETRY = (
    "UPDATE agent_messages SET status = 'pending', retry_count = retry_count + 1,"
    " available_at = ?, last_error = ?, lease_token = NULL,"
    " lease_expires_at = NULL, claimed_by = NULL WHERE id = ?"
)
"""A failure with retries left: pending again after the backoff (RETRY-001, RETRY-002)."""

BURY = (
    "UPDATE agent_messages SET status = 'dead', last_error = ?, finished_at = ?,"
    " lease_expires_at = NULL, lease_token = CASE WHEN ? THEN lease_token END,"
    " dead_order = (SELECT value FROM agent_counters WHERE name = 'dead')"
    " WHERE id = ?"
)
"""Dead-letter a message (RETRY-001, RETRY-003), in the order messages died (DLQ-001);
the holder who buries its own message keeps its token, a lapsed holder does not."""

ANSWER_DEATH = """
INSERT INTO agent_responses (request_id, from_agent, to_agent, response_payload,
    response_status, created_at)
SELECT id, coalesce(claimed_by, to_agent), from_agent, ?, 'error', ? FROM agent_messages
WHERE id = ? AND correlation_id IS NOT NULL AND expires_at IS NOT NULL AND response_id IS NULL
"""
"""Answer a request that died, from the agent that held it last (REQ-007); no row for a
message that is not a request or was answered already."""

ANSWER_DEATH_LINK = "UPDATE agent_messages SET response_id = last_insert_rowid() WHERE id = ?"
"""Point the dead request at the answer ``ANSWER_DEATH`` just stored (REQ-007)."""

COUNT = (
    "INSERT INTO agent_counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)
"""Add to a lifetime counter of a rare event: failed, retried, dead, expired (PRIO-004)."""

# -- dead letters --------------------------------------------------------------------------
DEAD_LETTERS = (
    f"SELECT {MESSAGE_COLUMNS} FROM agent_messages WHERE status = 'dead'"
    " ORDER BY dead_order, id LIMIT ?"
)
"""Dead letters in the order they died (DLQ-001)."""

REPLAY = (
    "UPDATE agent_messages SET status = 'pending', retry_count = 0,"
    " available_at = ?, finished_at = NULL, expires_at = NULL, dead_order = NULL,"
    " lease_token = NULL, lease_expires_at = NULL, claimed_by = NULL"
    " WHERE id = ? AND status = 'dead' AND response_id IS NULL"
    f" RETURNING {MESSAGE_COLUMNS}"
)
"""A dead letter pending again with a fresh retry budget (DLQ-002), unless it is a request
that was already answered as dead (REQ-007, REQ-004)."""

PURGE_ALL_REPLIES = (
    "DELETE FROM agent_responses WHERE request_id IN"
    " (SELECT id FROM agent_messages WHERE status = 'dead')"
)
"""The hub's answers to every dead request (REQ-007), which go with them (DLQ-003)."""

PURGE_ALL = "DELETE FROM agent_messages WHERE status = 'dead'"
"""Every dead letter (DLQ-003)."""

PURGE_REPLIES = (
    "DELETE FROM agent_responses WHERE request_id = ? AND request_id"
    " IN (SELECT id FROM agent_messages WHERE status = 'dead')"
)
"""The hub's answer to one dead request, purged with it (DLQ-003, REQ-007)."""

PURGE = "DELETE FROM agent_messages WHERE id = ? AND status = 'dead'"
"""One dead letter, and nothing that is not dead (DLQ-003)."""

# -- events ----------------------------------------------------------------------------------
PUBLISH = (
    "INSERT INTO agent_events (event_type, publisher, payload, published_at,"
    " expires_at) VALUES (?, ?, ?, ?, ?)"
)
"""Record one event (EVT-001)."""

SUBSCRIBE = (
    "INSERT INTO agent_subscriptions (agent_id, event_type, created_at, last_event_id)"
    " VALUES (?, ?, ?, (SELECT coalesce(max(id), 0) FROM agent_events))"
    " ON CONFLICT (agent_id, event_type) DO NOTHING"
)
"""Subscribe with the cursor at the end of the log: only events published from now on
(EVT-002); subscribing again changes nothing."""

UNSUBSCRIBE = "DELETE FROM agent_subscriptions WHERE agent_id = ? AND event_type = ?"
"""Drop a subscription and its cursor (EVT-002)."""

SUBSCRIPTIONS = "SELECT event_type FROM agent_subscriptions WHERE agent_id = ? ORDER BY event_type"
"""The event types an agent subscribes to."""

UNREAD_EVENTS = """
SELECT e.id, e.event_type, e.publisher, e.payload, e.published_at, e.expires_at
FROM agent_subscriptions s
JOIN agent_events e ON e.event_type = s.event_type AND e.id > s.last_event_id
WHERE s.agent_id = :agent AND (e.expires_at IS NULL OR e.expires_at > :now_iso)
ORDER BY e.id LIMIT :limit
"""
"""An agent's unexpired events past its cursors, in publish order (EVT-003, EVT-004,
ORD-002, ORD-003)."""

ADVANCE_CURSOR = (
    "UPDATE agent_subscriptions SET last_event_id = ? WHERE agent_id = ? AND event_type = ?"
)
"""Move a subscription's cursor past the events just read: each is read once (EVT-003)."""

LATEST_EVENTS = (
    f"SELECT * FROM (SELECT {EVENT_COLUMNS} FROM agent_events ORDER BY id DESC LIMIT ?) ORDER BY id"
)
"""The last ``?`` events of every type, oldest first, read without consuming (EVT-005)."""

EVENTS_AFTER = f"SELECT {EVENT_COLUMNS} FROM agent_events WHERE id > ? ORDER BY id LIMIT ?"
"""Events after a given one, in publish order, read without consuming (EVT-005)."""

# -- registry ------------------------------------------------------------------------------
REGISTER = (
    "INSERT INTO agent_registry (agent_id, status, last_heartbeat, process_id,"
    " capabilities, current_load, max_concurrent, heartbeat_ttl)"
    " VALUES (?, 'active', ?, ?, ?, 0, ?, ?)"
    " ON CONFLICT (agent_id) DO UPDATE SET status = 'active',"
    " last_heartbeat = excluded.last_heartbeat, process_id = excluded.process_id,"
    " capabilities = excluded.capabilities, current_load = 0,"
    " max_concurrent = excluded.max_concurrent,"
    " heartbeat_ttl = excluded.heartbeat_ttl RETURNING *"
)
"""Enter an agent as active, afresh if it was known (REG-001)."""

HEARTBEAT = (
    "UPDATE agent_registry SET last_heartbeat = ?, status = 'active',"
    " current_load = coalesce(?, current_load) WHERE agent_id = ? RETURNING *"
)
"""Prove life (REG-002); no row back: the agent never registered."""

DEREGISTER = "UPDATE agent_registry SET status = 'inactive', current_load = 0 WHERE agent_id = ?"
"""Mark an agent gone, keeping its entry and last heartbeat for retention (REG-004)."""

AGENTS = "SELECT * FROM agent_registry ORDER BY agent_id"
"""Every registry entry (REG-003 judges which are alive)."""

# -- maintenance ---------------------------------------------------------------------------
EXPIRE_STEP = """
UPDATE agent_messages SET status = 'expired', finished_at = ?1
WHERE id IN (SELECT id FROM agent_messages
             WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?2 LIMIT ?3)
RETURNING id
"""
"""Expire up to ``?3`` overdue pending messages (EXP-001, EXP-002)."""

DONE_MESSAGES = f"SELECT id FROM agent_messages WHERE {DONE}"
"""The finished messages past retention, found without the write lock (EXP-003)."""

# The prune steps below each check their condition again: another process may have
# changed a row since it was found.
DROP_REPLIES = (
    "DELETE FROM agent_responses WHERE request_id IN"
    f" (SELECT id FROM agent_messages WHERE id IN ({{ids}}) AND {DONE})"
)
"""The replies to a step of finished messages, pruned with them (EXP-003)."""

DONE_COMPLETED = (
    f"SELECT count(*) FROM agent_messages WHERE id IN ({{ids}}) AND {DONE} AND status = 'completed'"
)
"""How many of a step's messages are completed ones, for the lifetime count (PRIO-004)."""

DROP_MESSAGES = f"DELETE FROM agent_messages WHERE id IN ({{ids}}) AND {DONE}"
"""A step of finished messages past retention (EXP-003)."""

COUNT_PRUNED = (
    "INSERT INTO agent_counters (name, value) VALUES ('pruned_completed', ?)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)
"""Lifetime 'completed' is live rows plus pruned ones (PRIO-004, ``retention.totals``)."""

OLD_EVENTS = f"SELECT id FROM agent_events WHERE {OLD_EVENT}"
"""The events past retention or expiry, found without the write lock (EXP-004)."""

DROP_EVENTS = f"DELETE FROM agent_events WHERE id IN ({{ids}}) AND ({OLD_EVENT})"
"""A step of those events (EXP-004)."""

GONE_AGENTS = f"SELECT agent_id FROM agent_registry WHERE {GONE_AGENT}"
"""The departed agents past retention, found without the write lock (EXP-004)."""

DROP_AGENTS = f"DELETE FROM agent_registry WHERE agent_id IN ({{ids}}) AND ({GONE_AGENT})"
"""A step of those agents (EXP-004)."""

# -- stats ----------------------------------------------------------------------------------
DEPTHS = (
    "SELECT to_agent, status, priority, count(*) FROM agent_messages"
    " GROUP BY to_agent, status, priority"
)
"""Messages per target, status and priority (``stats``, PRIO-003)."""

COUNTERS = "SELECT name, value FROM agent_counters"
"""The stored lifetime counters (PRIO-004)."""

SEQUENCES = "SELECT name, seq FROM sqlite_sequence"
"""The last ids issued, which count every message sent and event published (PRIO-004)."""

COMPLETED = "SELECT count(*) FROM agent_messages WHERE status = 'completed'"
"""Completed messages not yet pruned (PRIO-004)."""


def insert_messages(count: int) -> str:
    """``INSERT_MESSAGES`` for ``count`` messages."""
    return INSERT_MESSAGES.format(rows=",".join([MESSAGE_ROW] * count))


def each(statement: str, count: int) -> str:
    """``statement`` with its ``{ids}`` list of ``count`` bound parameters (``?,?,?``)."""
    return statement.format(ids=",".join("?" * count))
