-- Durable state of Agentry Cloud (SQLite: the PostgreSQL schema as STRICT tables). Ids are
-- UUIDv7 text (ordering by id = creation order); timestamps are milliseconds since the Unix
-- epoch; JSON is stored as text.

CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    spec            TEXT NOT NULL,
    labels          TEXT NOT NULL,
    parent_id       TEXT,
    idempotency_key TEXT UNIQUE,
    created_ms      INTEGER NOT NULL,
    -- Highest event seq given out; commits bump it under the row lock.
    last_seq        INTEGER NOT NULL DEFAULT 0,
    -- Number of messages; the next message gets idx = message_count.
    message_count   INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE runs (
    id         TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    status     TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'paused')),
    epoch      INTEGER NOT NULL,
    node_id    TEXT,
    input      TEXT NOT NULL,
    error      TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX runs_agent_id_id ON runs (agent_id, id);
CREATE INDEX runs_status ON runs (status);

-- Append-only conversation of each agent.
CREATE TABLE messages (
    agent_id     TEXT NOT NULL REFERENCES agents (id),
    idx          INTEGER NOT NULL,
    run_id       TEXT NOT NULL REFERENCES runs (id),
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    tool_calls   TEXT NOT NULL,
    tool_call_id TEXT,
    PRIMARY KEY (agent_id, idx)
) STRICT;

CREATE TABLE events (
    agent_id TEXT NOT NULL REFERENCES agents (id),
    seq      INTEGER NOT NULL,
    run_id   TEXT NOT NULL REFERENCES runs (id),
    kind     TEXT NOT NULL,
    data     TEXT NOT NULL,
    ts_ms    INTEGER NOT NULL,
    PRIMARY KEY (agent_id, seq)
) STRICT;

CREATE TABLE nodes (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    state             TEXT NOT NULL,
    slots             INTEGER NOT NULL,
    running           INTEGER NOT NULL,
    labels            TEXT NOT NULL,
    last_heartbeat_ms INTEGER NOT NULL,
    joined_ms         INTEGER NOT NULL
) STRICT;

-- Each agent with its latest run (highest id), NULL run columns when it has none.
CREATE VIEW agent_summaries AS
SELECT
    agents.id, agents.spec, agents.labels, agents.parent_id, agents.created_ms, agents.last_seq,
    runs.id AS run_id, runs.status AS run_status, runs.epoch AS run_epoch,
    runs.node_id AS run_node_id, runs.input AS run_input, runs.error AS run_error,
    runs.created_ms AS run_created_ms, runs.updated_ms AS run_updated_ms
FROM agents
LEFT JOIN runs ON runs.id = (SELECT MAX(latest.id) FROM runs AS latest WHERE latest.agent_id = agents.id);
