-- agentcomm SQLite hub, schema version 1.
--
-- The five tables of the design document, with its names, columns and defaults kept
-- as they are (CREATE TABLE IF NOT EXISTS, so a design-era file is adopted as it is),
-- followed by the columns agentcomm adds.  Added columns are applied by migrations.py
-- with ALTER TABLE ADD COLUMN and all have defaults, so the design's own INSERTs work.
--
-- Time columns of the design (DATETIME) hold UTC text 'YYYY-MM-DD HH:MM:SS.sss', which
-- compares correctly with the design's CURRENT_TIMESTAMP and datetime('now', ...).
-- Columns agentcomm adds for its own bookkeeping hold REAL Unix epoch seconds.

CREATE TABLE IF NOT EXISTS agent_messages (
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

CREATE TABLE IF NOT EXISTS agent_registry (
    agent_id VARCHAR(100) PRIMARY KEY,
    status VARCHAR(20) DEFAULT 'active',
    last_heartbeat DATETIME DEFAULT CURRENT_TIMESTAMP,
    process_id INTEGER NULL,
    capabilities TEXT NULL,  -- JSON array of what agent can do
    current_load INTEGER DEFAULT 0,
    max_concurrent INTEGER DEFAULT 5
);

CREATE TABLE IF NOT EXISTS agent_responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL,
    from_agent VARCHAR(100) NOT NULL,
    to_agent VARCHAR(100) NOT NULL,
    response_payload TEXT NOT NULL,
    response_status VARCHAR(20) DEFAULT 'success',
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (request_id) REFERENCES agent_messages(id)
);

CREATE TABLE IF NOT EXISTS agent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type VARCHAR(100) NOT NULL,
    publisher VARCHAR(100) NOT NULL,
    payload TEXT NOT NULL,
    published_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    expires_at DATETIME NULL
);

CREATE TABLE IF NOT EXISTS agent_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id VARCHAR(100) NOT NULL,
    event_type VARCHAR(100) NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(agent_id, event_type)
);

-- Lifetime counters for monitoring: sent, completed, failed, retried, dead, expired, published.
CREATE TABLE IF NOT EXISTS agent_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL DEFAULT 0
);
