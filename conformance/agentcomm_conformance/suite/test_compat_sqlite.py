"""The SQLite hub file: the design's schema, extended (SPEC COMPAT-001..005).

The suite reaches the file through the hub's locator, a ``sqlite:///`` URL, and reads it
with Python's ``sqlite3`` as the design's scripts do; a design-era file (COMPAT-004) is
opened with the same URL at another path.  The SQL below is copied from the design
document unchanged.  The errors of opening and locking the file are in test_errors.py.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import stat
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcomm import DEFAULT_QUEUE, Hub, Priority, Status
from agentcomm_conformance.expect import file_of, now_by_message
from agentcomm_conformance.plugin import HubSession
from agentcomm_conformance.targets import Target

DESIGN_SCHEMA = """
CREATE TABLE agent_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_agent VARCHAR(100) NOT NULL,
    to_agent VARCHAR(100) NOT NULL,
    message_type VARCHAR(50) NOT NULL,
    payload TEXT NOT NULL,  -- JSON data
    status VARCHAR(20) DEFAULT 'pending',
    priority INTEGER DEFAULT 1,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    processed_at DATETIME NULL,
    response_id INTEGER NULL,
    timeout_seconds INTEGER DEFAULT 300,
    retry_count INTEGER DEFAULT 0,
    max_retries INTEGER DEFAULT 3,
    correlation_id VARCHAR(100) NULL
);
CREATE TABLE agent_registry (
    agent_id VARCHAR(100) PRIMARY KEY,
    status VARCHAR(20) DEFAULT 'active',
    last_heartbeat DATETIME DEFAULT CURRENT_TIMESTAMP,
    process_id INTEGER NULL,
    capabilities TEXT NULL,  -- JSON array of what agent can do
    current_load INTEGER DEFAULT 0,
    max_concurrent INTEGER DEFAULT 5
);
CREATE TABLE agent_responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL,
    from_agent VARCHAR(100) NOT NULL,
    to_agent VARCHAR(100) NOT NULL,
    response_payload TEXT NOT NULL,
    response_status VARCHAR(20) DEFAULT 'success',
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (request_id) REFERENCES agent_messages(id)
);
CREATE TABLE agent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type VARCHAR(100) NOT NULL,
    publisher VARCHAR(100) NOT NULL,
    payload TEXT NOT NULL,
    published_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    expires_at DATETIME NULL
);
CREATE TABLE agent_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id VARCHAR(100) NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(agent_id, event_type)
);
"""
DESIGN_TABLES = [
    "agent_messages",
    "agent_registry",
    "agent_responses",
    "agent_events",
    "agent_subscriptions",
]
DESIGN_REQUEST = """
INSERT INTO agent_messages (from_agent, to_agent, message_type, payload, correlation_id)
VALUES ('@backend.nodejs', '@service.auth', 'validate_token',
        '{"token": "abc123", "user_id": "user456"}', 'req_001');
"""
DESIGN_RESPONSE_QUERY = """
SELECT ar.response_payload, ar.response_status
FROM agent_responses ar
JOIN agent_messages am ON ar.request_id = am.id
WHERE am.correlation_id = 'req_001' AND am.from_agent = '@backend.nodejs'
AND ar.created_at >= datetime('now', '-5 minutes');
"""
DESIGN_TASK = """
INSERT INTO agent_messages (from_agent, to_agent, message_type, payload, priority)
VALUES ('@coordinator.backend', 'ANY_AVAILABLE', 'process_batch',
        '{"batch_id": "batch_001", "items": 1000}', {priority});
"""
DESIGN_EVENT = """
INSERT INTO agent_events (event_type, publisher, payload)
VALUES ('user_login', '@service.auth',
        '{"user_id": "123", "timestamp": "2024-01-15T10:30:00Z", "ip": "192.168.1.1"}');
"""
DESIGN_REGISTRATION = """
INSERT OR REPLACE INTO agent_registry (agent_id, status, last_heartbeat, process_id)
VALUES ('@backend.nodejs', 'active', CURRENT_TIMESTAMP, 4242);
"""
DESIGN_DEBUG_QUERY = """
SELECT agent_id, status, last_heartbeat,
       (julianday('now') - julianday(last_heartbeat)) * 86400 as seconds_since_heartbeat
FROM agent_registry
WHERE status = 'active';
"""
ADDED_COLUMNS = {
    "agent_messages": {
        "available_at",
        "lease_token",
        "lease_expires_at",
        "claimed_by",
        "expires_at",
        "last_error",
        "finished_at",
        "dead_order",
    },
    "agent_registry": {"heartbeat_ttl"},
    "agent_subscriptions": {"last_event_id"},
}
INJECTION = "'); DROP TABLE agent_messages; --"

Sql = Callable[..., sqlite3.Connection]
Opener = Callable[..., Hub]


def locator_for(locator: str, path: Path, *options: str) -> str:
    """``locator`` naming ``path`` instead, with its options and ``options`` added."""
    query = "&".join([q for q in [urllib.parse.urlsplit(locator).query, *options] if q])
    return f"sqlite:///{urllib.parse.quote(str(path))}" + (f"?{query}" if query else "")


@pytest.fixture
def hub_path(hub_session: HubSession) -> Path:
    return file_of(hub_session.locator)


@pytest.fixture
def open_at(hub_session: HubSession) -> Opener:
    """``open_at(path, agent, *options)``: a handle on the hub file at ``path``."""

    def opener(path: Path, agent: str | None = None, *options: str) -> Hub:
        handle = hub_session.target.open(
            locator_for(hub_session.locator, path, *options), agent, hub_session.clock
        )
        hub_session.handles.append(handle)
        return handle

    return opener


@pytest.fixture
def sql(hub_path: Path) -> Iterator[Sql]:
    """``sql(path=hub)``: a plain sqlite3 connection, as the design's scripts open one."""
    opened: list[sqlite3.Connection] = []

    def connect(path: Path = hub_path) -> sqlite3.Connection:
        opened.append(sqlite3.connect(path, isolation_level=None, timeout=5))
        return opened[-1]

    yield connect
    for conn in opened:
        conn.close()


def columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def epoch(text: str) -> float:
    """A DATETIME column's UTC text ``YYYY-MM-DD HH:MM:SS.sss`` as epoch seconds."""
    when = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


# -- COMPAT-001 / COMPAT-002: the file and its tables --------------------------------------
@pytest.mark.spec("COMPAT-001")
def test_a_hub_file_the_implementation_creates_is_private_even_under_an_open_umask(
    hub_session: HubSession, conformance_target: Target, tmp_path: Path
) -> None:
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    old = os.umask(0)
    try:
        locator = conformance_target.new_hub(workdir)
        handle = conformance_target.open(locator, "@a", hub_session.clock)
        hub_session.handles.append(handle)
        handle.send("@b", "w", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(file_of(locator).stat().st_mode) == 0o600


@pytest.mark.spec("COMPAT-001")
def test_an_open_hub_is_in_wal_mode_at_schema_version_2(hub: Hub, sql: Sql) -> None:
    hub.send("@b", "w", {})
    db = sql()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2


@pytest.mark.spec("COMPAT-002")
def test_the_design_tables_keep_every_design_column_and_add_columns_with_defaults(
    hub: Hub, sql: Sql
) -> None:
    """The spec's added columns must be there; an implementation's own may be too."""
    design, db = sqlite3.connect(":memory:"), sql()
    design.executescript(DESIGN_SCHEMA)
    for table in DESIGN_TABLES:
        ours = {row[1]: row for row in db.execute(f"PRAGMA table_info({table})")}
        for row in design.execute(f"PRAGMA table_info({table})"):
            assert ours.pop(row[1])[2:] == row[2:], f"{table}.{row[1]}"  # type, null, default, pk
        missing = ADDED_COLUMNS.get(table, set()) - set(ours)
        assert not missing, f"{table} lacks the added columns {sorted(missing)}"
        no_default = [name for name, r in ours.items() if r[4] is None and r[3]]
        assert not no_default, f"{table}: added columns without a default: {no_default}"
        ddl = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        assert ("AUTOINCREMENT" in ddl.upper()) == (table != "agent_registry")
    assert set(columns(db, "agent_counters")) == {"name", "value"}
    design.close()


@pytest.mark.spec("COMPAT-002", "COMPAT-004")
def test_an_event_inserted_by_the_design_reaches_subscribers(agents: Opener, sql: Sql) -> None:
    tracker = agents("@analytics.tracker")
    tracker.subscribe("user_login")
    sql().execute(DESIGN_EVENT)
    (event,) = tracker.events()
    assert (event.event_type, event.publisher, event.payload["ip"]) == (
        "user_login",
        "@service.auth",
        "192.168.1.1",
    )


# -- COMPAT-003: what the columns mean ------------------------------------------------------
@pytest.mark.spec("COMPAT-003")
def test_to_agent_keeps_the_target_claimed_by_the_claimer_and_priority_its_level(
    agents: Opener, sql: Sql
) -> None:
    boss, worker = agents("@boss"), agents("@worker.1")
    sent = {p: boss.send("jobs", "task", {"p": p.name}, priority=p) for p in Priority}
    claim = worker.claim("jobs")
    assert claim is not None and claim.id == sent[Priority.HIGH].id
    worker.fail(claim.id, claim.token, "again")  # back to pending: to_agent still the queue
    rows = (
        sql()
        .execute(
            "SELECT id, to_agent, priority, status, claimed_by, payload"
            " FROM agent_messages ORDER BY id"
        )
        .fetchall()
    )
    assert [(str(r[0]), r[2]) for r in rows] == [(sent[p].id, int(p)) for p in Priority]
    assert {r[1] for r in rows} == {"jobs"}
    assert [json.loads(r[5]) for r in rows] == [{"p": p.name} for p in Priority]
    claim = worker.claim("jobs")
    assert claim is not None
    row = (
        sql()
        .execute(
            "SELECT to_agent, status, claimed_by FROM agent_messages WHERE id = ?", (int(claim.id),)
        )
        .fetchone()
    )
    assert row == ("jobs", "processing", "@worker.1")


@pytest.mark.spec("COMPAT-003")
def test_statuses_replies_and_cursors_are_stored_as_the_design_reads_them(
    agents: Opener, elapse: Callable[[float], None], sql: Sql
) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    asked = [boss.send("@worker", "ask", {"n": n}, expires_in=60) for n in range(4)]
    boss.send("@worker", "ask", {}, expires_in=0.2)
    boss.send("@idle", "ask", {})
    claims = [c for c in (worker.claim() for _ in asked) if c is not None]
    assert [c.id for c in claims] == [m.id for m in asked]
    ok = worker.reply(claims[0].id, claims[0].token, {"ok": True})
    bad = worker.reply(claims[1].id, claims[1].token, ["no"], status="error")
    worker.fail(claims[2].id, claims[2].token, "poison", retry=False)
    elapse(0.2)
    boss.sweep()
    db = sql()
    for message_id, status in db.execute("SELECT id, status FROM agent_messages"):
        assert status == boss.get(str(message_id)).status.value
    assert {r[0] for r in db.execute("SELECT status FROM agent_messages")} == {
        s.value for s in Status
    }
    for reply, status in ((ok, "success"), (bad, "error")):
        row = db.execute(
            "SELECT m.response_id, r.request_id, r.response_status,"
            " r.response_payload FROM agent_messages m JOIN agent_responses r"
            " ON r.id = m.response_id WHERE m.id = ?",
            (int(reply.request_id),),
        ).fetchone()
        assert row[:3] == (int(reply.id), int(reply.request_id), status)
        assert json.loads(row[3]) == reply.payload
    reader = agents("@reader")
    reader.subscribe("news")
    published = [boss.publish("news", {"n": n}) for n in range(3)]
    assert [e.id for e in reader.events(limit=2)] == [e.id for e in published[:2]]
    cursor = db.execute(
        "SELECT last_event_id FROM agent_subscriptions WHERE agent_id = ?", ("@reader",)
    ).fetchone()[0]
    assert cursor == int(published[1].id)
    payloads = db.execute("SELECT payload FROM agent_events ORDER BY id").fetchall()
    assert [json.loads(p[0]) for p in payloads] == [{"n": n} for n in range(3)]


@pytest.mark.spec("COMPAT-003")
def test_ids_are_the_decimal_text_of_autoincrement_row_ids_never_reused(hub: Hub, sql: Sql) -> None:
    first = hub.send("@tester", "w", 1)
    second = hub.send("@tester", "w", 2)
    assert int(first.id) < int(second.id)
    claim = hub.claim()
    assert claim is not None
    reply = hub.reply(claim.id, claim.token, "r")
    claim = hub.claim()
    assert claim is not None
    hub.fail(claim.id, claim.token, "x", retry=False)
    assert hub.purge_dead() == 1  # the newest row is gone; its id must not come back
    third = hub.send("@tester", "w", 3)
    events = [hub.publish("e", n) for n in range(2)]
    db = sql()
    assert [str(r[0]) for r in db.execute("SELECT id FROM agent_messages ORDER BY id")] == [
        first.id,
        third.id,
    ]
    assert int(third.id) > int(second.id)
    assert [str(r[0]) for r in db.execute("SELECT id FROM agent_responses")] == [reply.id]
    assert [str(r[0]) for r in db.execute("SELECT id FROM agent_events ORDER BY id")] == [
        e.id for e in events
    ]
    assert int(events[0].id) < int(events[1].id)


@pytest.mark.spec("COMPAT-003")
def test_design_time_columns_hold_utc_text_and_added_ones_epoch_seconds(hub: Hub, sql: Sql) -> None:
    hub.register()
    hub.subscribe("e")
    sent = hub.send("@tester", "w", {}, expires_in=60)
    claim = hub.claim()
    assert claim is not None
    reply = hub.reply(claim.id, claim.token, {})
    event = hub.publish("e", {}, ttl=60)
    db = sql()
    texts = {
        "agent_messages.created_at": (
            f"created_at FROM agent_messages WHERE id = {sent.id}",
            sent.created_at,
        ),
        "agent_responses.created_at": (
            f"created_at FROM agent_responses WHERE id = {reply.id}",
            reply.created_at,
        ),
        "agent_events.published_at": (
            f"published_at FROM agent_events WHERE id = {event.id}",
            event.published_at,
        ),
        "agent_events.expires_at": (
            f"expires_at FROM agent_events WHERE id = {event.id}",
            event.expires_at,
        ),
        "agent_registry.last_heartbeat": (
            "last_heartbeat FROM agent_registry",
            hub.agents()[0].last_heartbeat,
        ),
    }
    for column, (query, expected) in texts.items():
        text = db.execute(f"SELECT {query}").fetchone()[0]
        assert isinstance(text, str) and epoch(text) == pytest.approx(expected, abs=0.0015), column
    created = db.execute("SELECT created_at FROM agent_subscriptions").fetchone()[0]
    assert epoch(created) == pytest.approx(sent.created_at, abs=5)
    reals = db.execute(
        "SELECT available_at, lease_expires_at, expires_at, finished_at,"
        " typeof(available_at) || typeof(lease_expires_at) || typeof(expires_at)"
        " || typeof(finished_at) FROM agent_messages WHERE id = ?",
        (int(sent.id),),
    ).fetchone()
    assert reals[4] == "real" * 4
    assert reals[:3] == pytest.approx(
        (sent.available_at, claim.lease_expires_at, sent.expires_at), abs=0.0015
    )
    assert reply.created_at - 1 <= reals[3] <= reply.created_at + 1


@pytest.mark.spec("COMPAT-003")
def test_the_design_debug_query_reads_the_heartbeats_the_hub_writes(
    agents: Opener, sql: Sql
) -> None:
    agents("@backend.nodejs").register(process_id=os.getpid())
    agents("@backend.nodejs").heartbeat()
    ((agent, status, _, age),) = sql().execute(DESIGN_DEBUG_QUERY).fetchall()
    assert (agent, status) == ("@backend.nodejs", "active")
    assert -1 < age < 60


# -- COMPAT-004: design-era files and the design's own INSERTs ------------------------------
@pytest.mark.spec("COMPAT-004")
def test_a_design_era_database_is_upgraded_in_place_keeping_every_row(
    open_at: Opener, sql: Sql, tmp_path: Path
) -> None:
    path = tmp_path / "design.db"
    legacy = sql(path)
    legacy.executescript(
        DESIGN_SCHEMA
        + DESIGN_REQUEST
        + DESIGN_EVENT
        + DESIGN_REGISTRATION
        + "INSERT INTO agent_subscriptions (agent_id, event_type)"
        " VALUES ('@analytics.tracker', 'user_login');"
    )
    worker = open_at(path, "@service.auth")  # no creation asked: adopted as it is
    assert legacy.execute("PRAGMA user_version").fetchone()[0] == 2
    claim = worker.claim()
    assert claim is not None
    assert (claim.message.from_agent, claim.message.type, claim.message.correlation_id) == (
        "@backend.nodejs",
        "validate_token",
        "req_001",
    )
    assert claim.message.payload == {"token": "abc123", "user_id": "user456"}
    assert (claim.message.timeout_seconds, claim.message.max_retries) == (300, 3)
    worker.reply(claim.id, claim.token, {"valid": True, "user": "john_doe"})
    ((payload, status),) = legacy.execute(DESIGN_RESPONSE_QUERY).fetchall()
    assert (json.loads(payload), status) == ({"valid": True, "user": "john_doe"}, "success")
    requester = open_at(path, "@backend.nodejs")
    assert requester.wait_reply(claim.id, timeout=0).payload["user"] == "john_doe"
    (event,) = requester.tail_events()
    assert (event.event_type, event.publisher, event.payload["ip"]) == (
        "user_login",
        "@service.auth",
        "192.168.1.1",
    )
    (agent,) = requester.agents()
    assert (agent.agent_id, agent.status, agent.process_id) == ("@backend.nodejs", "active", 4242)
    assert open_at(path, "@analytics.tracker").subscriptions() == ["user_login"]
    legacy.execute(DESIGN_REQUEST)  # the design's scripts keep working after the upgrade
    again = worker.claim()
    assert again is not None and again.message.correlation_id == "req_001"


@pytest.mark.spec("COMPAT-004")
def test_tasks_inserted_by_the_design_are_pending_and_claimed_by_priority(
    agents: Opener, sql: Sql
) -> None:
    worker = agents("@worker.batch.001")
    older = agents("@coordinator").send(DEFAULT_QUEUE, "process_batch", {"batch_id": "ours"})
    db = sql()
    for priority in (0, 2, 1):
        db.execute(DESIGN_TASK.replace("{priority}", str(priority)))
    claims = [c for c in (worker.claim(DEFAULT_QUEUE) for _ in range(4)) if c is not None]
    assert [int(c.message.priority) for c in claims] == [2, 1, 1, 0]
    assert claims[1].id == older.id
    assert all(
        c.message.retry_count == 0 and c.message.from_agent == "@coordinator.backend"
        for c in (claims[0], claims[2], claims[3])
    )
    assert claims[0].message.payload == {"batch_id": "batch_001", "items": 1000}


# -- COMPAT-005: transactions and bound values ----------------------------------------------
@pytest.mark.spec("COMPAT-005", "MSG-003")
def test_sql_in_values_is_stored_verbatim_and_changes_no_table(hub: Hub, sql: Sql) -> None:
    sent = hub.send("@b", "w", INJECTION)
    event = hub.publish("e", {INJECTION: INJECTION})
    hub.send("@tester", "w", {})
    claim = hub.claim()
    assert claim is not None
    hub.fail(claim.id, claim.token, INJECTION, retry=False)
    db = sql()
    assert (
        json.loads(
            db.execute(
                "SELECT payload FROM agent_messages WHERE id = ?", (int(sent.id),)
            ).fetchone()[0]
        )
        == INJECTION
    )
    assert db.execute(
        "SELECT last_error FROM agent_messages WHERE id = ?", (int(claim.id),)
    ).fetchone() == (INJECTION,)
    assert hub.get(sent.id).payload == INJECTION and hub.get(claim.id).last_error == INJECTION
    assert hub.tail_events()[0].payload == event.payload
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {*DESIGN_TABLES, "agent_counters"} <= tables
    assert db.execute("SELECT count(*) FROM agent_messages").fetchone() == (2,)


DESIGN_TASK_CLAIM = """
UPDATE agent_messages
SET status = 'processing', to_agent = '@worker.batch.001', processed_at = ?
WHERE id = ? AND status = 'pending';
"""
"""The design's claim, with its CURRENT_TIMESTAMP as the hub's clock reads it."""
DESIGN_SUBSCRIPTION = """
INSERT INTO agent_subscriptions (agent_id, event_type) VALUES ('@analytics.tracker', 'user_login');
"""


def utc_text(epoch_seconds: float) -> str:
    """Epoch seconds as the design's DATETIME text (CURRENT_TIMESTAMP's form)."""
    when = datetime.datetime.fromtimestamp(epoch_seconds, datetime.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.spec("COMPAT-004", "RETRY-001", "EXP-002")
def test_a_task_claimed_the_designs_way_is_reclaimed_by_sweep_after_its_timeout(
    agents: Opener, elapse: Callable[[float], None], sql: Sql
) -> None:
    coordinator = agents("@coordinator")
    task = coordinator.send(
        DEFAULT_QUEUE, "process_batch", {"batch_id": "b1"}, timeout_seconds=2, max_retries=1
    )
    sql().execute(DESIGN_TASK_CLAIM, (utc_text(now_by_message(coordinator)), int(task.id)))
    assert coordinator.sweep() == 0  # its derived lease is live
    elapse(3)
    assert coordinator.sweep() == 1
    back = coordinator.get(task.id)
    assert (back.status, back.retry_count, back.last_error) == (Status.PENDING, 1, "lease expired")
    elapse(1)  # the backoff
    claim = agents("@worker.batch.001").claim()  # the design moved it to the worker's inbox
    assert claim is not None and claim.id == task.id


@pytest.mark.spec("COMPAT-004", "EVT-002")
def test_a_subscription_inserted_the_designs_way_starts_at_the_end_of_the_log(
    agents: Opener, sql: Sql
) -> None:
    auth, tracker = agents("@service.auth"), agents("@analytics.tracker")
    auth.publish("user_login", {"user_id": "before"})
    sql().execute(DESIGN_SUBSCRIPTION)
    after = auth.publish("user_login", {"user_id": "after"})
    assert tracker.subscriptions() == ["user_login"]
    assert [e.id for e in tracker.events()] == [after.id]
