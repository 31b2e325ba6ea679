-- Events as received, the runs they caused, and each run's step records: the SQLite schema's
-- twin (sql/sqlite/0001_initial.sql). Times are Unix seconds (double precision) so both backends
-- and the callers speak the same clock values. JSON is kept as TEXT, not jsonb: jsonb rejects the
-- \u0000 escape that a visitor's message may carry, and the journal must store what it was given.

CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel     TEXT NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,             -- accepted | ignored
    received_at DOUBLE PRECISION NOT NULL,
    chat_id     TEXT,
    widget_id   TEXT,
    dedup_key   TEXT NOT NULL UNIQUE,      -- sha256(channel, raw body): a redelivery is one row
    body        BYTEA NOT NULL
);
CREATE INDEX events_received ON events (received_at);
CREATE INDEX events_chat ON events (chat_id);
CREATE INDEX events_channel ON events (channel, received_at);

-- Why a bundle did not run on an event: the journal's answer to "nothing appears in the CRM".
-- seq keeps insertion order (SQLite's rowid does that job there).
CREATE TABLE not_matched (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    bundle   TEXT NOT NULL,
    reason   TEXT NOT NULL,
    PRIMARY KEY (event_id, bundle)
);

CREATE TABLE runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- arrival order in a lane
    event_id      BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    bundle        TEXT NOT NULL,
    lane          TEXT NOT NULL,
    status        TEXT NOT NULL,           -- queued | running | paused | succeeded | failed
    attempt       INTEGER NOT NULL DEFAULT 1,
    retry_at      DOUBLE PRECISION NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    updated_at    DOUBLE PRECISION NOT NULL,
    version_hash  TEXT NOT NULL,
    ran_hash      TEXT,
    lease_owner   TEXT,
    lease_expires DOUBLE PRECISION,
    error         TEXT,
    reply         TEXT,
    replay_of     BIGINT REFERENCES runs (id) ON DELETE SET NULL
);
-- The claim scans queued runs by id; finished runs (the bulk of the table) stay out of it.
CREATE INDEX runs_queued ON runs (id) WHERE status = 'queued';
CREATE INDEX runs_lane ON runs (lane, id) WHERE status IN ('queued', 'running');
CREATE INDEX runs_event ON runs (event_id);
CREATE INDEX runs_bundle ON runs (bundle, id);
CREATE INDEX runs_expiry ON runs (lease_expires) WHERE status = 'running';
-- A lane runs on one instance at a time, enforced by the database itself. The claim's lane
-- predicate reads a snapshot: two instances claiming at the same moment could each see a
-- different head of one lane (a run inserted by a transaction that committed late, a paused run
-- resumed meanwhile). This index makes the second claim fail instead of running both; the store
-- then claims again against the newer state.
CREATE UNIQUE INDEX runs_one_running_per_lane ON runs (lane) WHERE status = 'running';

-- One row per step and attempt; "started" means the step began writing and has no result yet.
CREATE TABLE steps (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id  BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status  TEXT NOT NULL,
    record  TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id, attempt)
);

-- Deliveries refused at intake (widget of another channel): kept apart, they create nothing.
CREATE TABLE rejections (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    body        BYTEA NOT NULL
);
CREATE INDEX rejections_received ON rejections (received_at);
