-- Events as received, the runs they caused, and each run's step records.
-- Times are Unix seconds (REAL). JSON is stored as TEXT.

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    channel     TEXT NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,             -- accepted | ignored
    received_at REAL NOT NULL,
    chat_id     TEXT,
    widget_id   TEXT,
    dedup_key   TEXT NOT NULL UNIQUE,      -- sha256(channel, raw body): a redelivery is one row
    body        BLOB NOT NULL
);
CREATE INDEX events_received ON events (received_at);
CREATE INDEX events_chat ON events (chat_id);

-- Why a bundle did not run on an event: the journal's answer to "nothing appears in the CRM".
CREATE TABLE not_matched (
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    bundle   TEXT NOT NULL,
    reason   TEXT NOT NULL,
    PRIMARY KEY (event_id, bundle)
);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,     -- arrival order within a lane
    event_id      INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    bundle        TEXT NOT NULL,
    lane          TEXT NOT NULL,
    status        TEXT NOT NULL,           -- queued | running | paused | succeeded | failed
    attempt       INTEGER NOT NULL DEFAULT 1,
    retry_at      REAL NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    version_hash  TEXT NOT NULL,
    ran_hash      TEXT,
    lease_owner   TEXT,
    lease_expires REAL,
    error         TEXT,
    reply         TEXT,
    replay_of     INTEGER REFERENCES runs (id) ON DELETE SET NULL
);
CREATE INDEX runs_ready ON runs (status, retry_at);
CREATE INDEX runs_lane ON runs (lane, status, id);
CREATE INDEX runs_event ON runs (event_id);
CREATE INDEX runs_bundle ON runs (bundle, id);

-- One row per step and attempt; "started" means the step began writing and has no result yet.
CREATE TABLE steps (
    run_id  INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status  TEXT NOT NULL,
    record  TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id, attempt)
);

-- Deliveries refused at intake (widget of another channel): kept apart, they create nothing.
CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY,
    channel     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    received_at REAL NOT NULL,
    body        BLOB NOT NULL
);
