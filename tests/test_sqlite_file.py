"""The SQLite hub file: safe opening, the design's schema, upgrade in place (SPEC ERR-004,
COMPAT-001..005).  SQLite-specific: it reads the file with the ``sqlite3`` module directly.

The SQL below is copied from the design document (``/work/shared/seed``), unchanged.
"""

from __future__ import annotations

import os
import random
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcomm import (
    DEFAULT_QUEUE,
    ConfigurationError,
    CorruptStore,
    ManualClock,
    NotFound,
    Priority,
    Status,
    connect,
)

DESIGN_SCHEMA = """
-- Core message queue table
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

-- Agent registry and heartbeat
CREATE TABLE agent_registry (
    agent_id VARCHAR(100) PRIMARY KEY,
    status VARCHAR(20) DEFAULT 'active',
    last_heartbeat DATETIME DEFAULT CURRENT_TIMESTAMP,
    process_id INTEGER NULL,
    capabilities TEXT NULL,  -- JSON array of what agent can do
    current_load INTEGER DEFAULT 0,
    max_concurrent INTEGER DEFAULT 5
);

-- Response tracking
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

-- Pub/Sub events
CREATE TABLE agent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type VARCHAR(100) NOT NULL,
    publisher VARCHAR(100) NOT NULL,
    payload TEXT NOT NULL,
    published_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    expires_at DATETIME NULL
);

-- Event subscriptions
CREATE TABLE agent_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id VARCHAR(100) NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(agent_id, event_type)
);
"""
DESIGN_TABLES = ["agent_messages", "agent_registry", "agent_responses", "agent_events",
                 "agent_subscriptions"]
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
        '{"batch_id": "batch_001", "items": 1000}', 5);
"""
DESIGN_EVENT = """
INSERT INTO agent_events (event_type, publisher, payload)
VALUES ('user_login', '@service.auth',
        '{"user_id": "123", "timestamp": "2024-01-15T10:30:00Z", "ip": "192.168.1.1"}');
"""
DESIGN_DEBUG_QUERY = """
SELECT agent_id, status, last_heartbeat,
       (julianday('now') - julianday(last_heartbeat)) * 86400 as seconds_since_heartbeat
FROM agent_registry
WHERE status = 'active';
"""
ADDED_COLUMNS = {
    "agent_messages": ["available_at", "lease_token", "lease_expires_at", "claimed_by",
                       "expires_at", "last_error", "finished_at"],
    "agent_registry": ["heartbeat_ttl"],
    "agent_subscriptions": ["last_event_id"],
    "agent_counters": ["name", "value"],
}


Opener = Callable[[], sqlite3.Connection]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """The file of ``sqlite_url``."""
    return tmp_path / "hub.db"


@pytest.fixture
def sql(path: Path) -> Iterator[Opener]:
    """Opens plain sqlite3 connections to the existing hub file, as the design's scripts do."""
    opened: list[sqlite3.Connection] = []

    def open_raw() -> sqlite3.Connection:
        opened.append(sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None))
        return opened[-1]

    yield open_raw
    for conn in opened:
        conn.close()


def write_database(path: Path, script: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()


def test_a_new_hub_file_and_its_wal_are_private_to_their_user(sqlite_url: str, path: Path,
                                                               tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with connect(sqlite_url, agent="@a", create=True) as hub:
            hub.send("@b", "w", {})
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    finally:
        os.umask(old)
    assert modes["hub.db"] == 0o600
    assert modes["hub.db-wal"] == 0o600
    assert set(modes.values()) == {0o600}


def test_a_missing_file_without_create_raises_not_found_and_creates_nothing(
        sqlite_url: str, path: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=str(path)):
        connect(sqlite_url)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("create", [False, True])
def test_a_corrupt_file_raises_corrupt_store_and_is_left_unchanged(
        sqlite_url: str, path: Path, tmp_path: Path, create: bool) -> None:
    garbage = random.Random(7).randbytes(64 * 1024)
    path.write_bytes(garbage)
    with pytest.raises(CorruptStore, match=str(path)) as caught:
        connect(sqlite_url, create=create)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes() == garbage
    assert [p.name for p in tmp_path.iterdir()] == ["hub.db"]


def test_an_empty_file_without_create_raises_corrupt_store(sqlite_url: str,
                                                           path: Path) -> None:
    path.touch()
    with pytest.raises(CorruptStore, match="empty"):
        connect(sqlite_url)
    assert path.stat().st_size == 0


def test_a_foreign_sqlite_database_without_create_raises_corrupt_store_untouched(
        sqlite_url: str, path: Path, sql: Opener) -> None:
    write_database(path, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');")
    with pytest.raises(CorruptStore, match="not an agentcomm hub"):
        connect(sqlite_url)
    db = sql()
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["notes"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert db.execute("SELECT body FROM notes").fetchall() == [("keep me",)]


def test_an_empty_file_becomes_a_hub_when_creation_is_asked(sqlite_url: str,
                                                            path: Path) -> None:
    path.touch()
    with connect(sqlite_url, agent="@a", create=True) as hub:
        assert hub.send("@b", "w", {}).status is Status.PENDING


def test_a_directory_path_raises_configuration_error(sqlite_url: str, path: Path) -> None:
    path.mkdir()
    with pytest.raises(ConfigurationError, match="directory"):
        connect(sqlite_url, create=True)


def test_creating_in_a_missing_directory_raises_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing"):
        connect(f"sqlite:///{tmp_path / 'nope' / 'hub.db'}", create=True)
    assert list(tmp_path.iterdir()) == []


def test_the_hub_is_schema_version_1_in_wal_mode(sqlite_url: str, sql: Opener) -> None:
    connect(sqlite_url, create=True).close()
    db = sql()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_design_tables_have_all_the_design_columns_then_ours(sqlite_url: str,
                                                                 sql: Opener) -> None:
    connect(sqlite_url, create=True).close()
    design, db = sqlite3.connect(":memory:"), sql()
    design.executescript(DESIGN_SCHEMA)
    for table in DESIGN_TABLES:
        expected = design.execute(f"PRAGMA table_info({table})").fetchall()
        ours = db.execute(f"PRAGMA table_info({table})").fetchall()
        assert ours[:len(expected)] == expected, table
        added = ours[len(expected):]
        assert [r[1] for r in added] == ADDED_COLUMNS.get(table, []), table
        assert all(r[4] is not None or not r[3] for r in added), f"{table}: NOT NULL, no default"
    counters = [r[1] for r in db.execute("PRAGMA table_info(agent_counters)")]
    assert counters == ADDED_COLUMNS["agent_counters"]
    design.close()


def test_a_design_era_database_is_upgraded_in_place_and_served(
        sqlite_url: str, path: Path, sql: Opener) -> None:
    write_database(path, DESIGN_SCHEMA + DESIGN_REQUEST)
    db = sql()
    worker = connect(sqlite_url, agent="@service.auth")  # no create: adopted as it is
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    claim = worker.claim()
    assert claim is not None
    assert (claim.message.from_agent, claim.message.type, claim.message.correlation_id) == (
        "@backend.nodejs", "validate_token", "req_001")
    assert claim.message.payload == {"token": "abc123", "user_id": "user456"}
    worker.reply(claim.id, claim.token, {"valid": True, "user": "john_doe"})
    assert db.execute(DESIGN_RESPONSE_QUERY).fetchall() == [
        ('{"valid":true,"user":"john_doe"}', "success")]
    requester = connect(sqlite_url, agent="@backend.nodejs")
    assert requester.wait_reply(claim.id, timeout=0).payload["user"] == "john_doe"
    db.execute(DESIGN_REQUEST)  # the design's scripts keep working after the upgrade
    assert worker.claim() is not None
    worker.close()
    requester.close()


def test_a_design_priority_5_task_is_read_as_high_and_served_first(sqlite_url: str,
                                                                   sql: Opener) -> None:
    with connect(sqlite_url, agent="@coordinator", create=True, clock=ManualClock()) as hub:
        older = hub.send(DEFAULT_QUEUE, "process_batch", {"batch_id": "batch_000"})
        sql().execute(DESIGN_TASK)
        first, second = hub.claim_many(DEFAULT_QUEUE, limit=2)
        assert (first.message.priority, first.message.payload["batch_id"]) == (
            Priority.HIGH, "batch_001")
        assert second.id == older.id


def test_an_event_inserted_by_the_design_reaches_subscribers(sqlite_url: str,
                                                             sql: Opener) -> None:
    with connect(sqlite_url, agent="@analytics.tracker", create=True) as hub:
        hub.subscribe("user_login")
        sql().execute(DESIGN_EVENT)
        (event,) = hub.events()
        assert (event.event_type, event.publisher, event.payload["ip"]) == (
            "user_login", "@service.auth", "192.168.1.1")


def test_a_schema_newer_than_ours_raises_configuration_error(sqlite_url: str,
                                                             sql: Opener) -> None:
    connect(sqlite_url, create=True).close()
    db = sql()
    db.execute("PRAGMA user_version = 2")
    with pytest.raises(ConfigurationError, match="version 2"):
        connect(sqlite_url)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_the_design_debug_query_reads_the_heartbeats_we_write(sqlite_url: str,
                                                              sql: Opener) -> None:
    with connect(sqlite_url, agent="@backend.nodejs", create=True) as hub:  # the real clock
        hub.register(process_id=os.getpid())
        hub.heartbeat()
    ((agent, status, _, age),) = sql().execute(DESIGN_DEBUG_QUERY).fetchall()
    assert (agent, status) == ("@backend.nodejs", "active")
    assert -1 < age < 60


def test_sql_in_values_is_stored_verbatim_and_drops_nothing(sqlite_url: str,
                                                            sql: Opener) -> None:
    evil = "'); DROP TABLE agent_messages; --"
    with connect(sqlite_url, agent="@a", create=True) as hub:
        sent = hub.send("@b", "w", evil, correlation_id="x")
        hub.publish("e", evil)
        hub.send("@a", "w", {})
        claim = hub.claim()
        assert claim is not None
        hub.fail(claim.id, claim.token, evil, retry=False)
    db = sql()
    assert db.execute("SELECT payload FROM agent_messages WHERE id = ?",
                      (int(sent.id),)).fetchone() == (f'"{evil}"',)
    assert db.execute("SELECT last_error FROM agent_messages WHERE id = ?",
                      (int(claim.id),)).fetchone() == (evil,)
    assert db.execute("SELECT count(*) FROM agent_events").fetchone() == (1,)
