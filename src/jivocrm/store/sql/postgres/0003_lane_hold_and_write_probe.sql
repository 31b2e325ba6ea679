-- When a run was first claimed: how long it has held its lane (retry.max_lane_hold, the
-- jivocrm_lane_hold_seconds gauge). NULL until a worker takes it; a replay starts afresh.
ALTER TABLE runs ADD COLUMN started_at DOUBLE PRECISION;
CREATE INDEX runs_started ON runs (status, started_at);

-- /readyz writes a row here and deletes it: "ready" means the store can still write (a full
-- disk, a read-only standby after a failover).
CREATE TABLE write_probe (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    data BYTEA NOT NULL
);
