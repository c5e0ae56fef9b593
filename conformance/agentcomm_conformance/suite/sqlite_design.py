"""The design document's SQLite schema and statements, copied from it unchanged, and the
fixtures that reach a hub's file as the design's scripts do (Python's ``sqlite3``).

Shared by ``test_compat_sqlite.py`` (the schema) and ``test_compat_sqlite_scripts.py``
(the design's scripts on a hub's file); not named ``test_*``, so pytest does not collect
it.  A test module imports the fixtures ``hub_path`` and ``sql`` by name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcomm import Hub
from agentcomm_conformance.expect import file_of
from agentcomm_conformance.plugin import HubSession

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
DESIGN_TASK_CLAIM = """
UPDATE agent_messages
SET status = 'processing', to_agent = '@worker.batch.001', processed_at = ?
WHERE id = ? AND status = 'pending';
"""
"""The design's claim, with its CURRENT_TIMESTAMP as the hub's clock reads it."""
DESIGN_SUBSCRIPTION = """
INSERT INTO agent_subscriptions (agent_id, event_type) VALUES ('@analytics.tracker', 'user_login');
"""

Sql = Callable[..., sqlite3.Connection]
Opener = Callable[..., Hub]


@pytest.fixture
def hub_path(hub_session: HubSession) -> Path:
    return file_of(hub_session.locator)


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
