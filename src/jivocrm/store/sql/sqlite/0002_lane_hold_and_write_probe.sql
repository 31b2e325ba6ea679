-- When a run was first claimed: how long it has held its lane (retry.max_lane_hold, the
-- jivocrm_lane_hold_seconds gauge). NULL until a worker takes it; a replay starts afresh.
ALTER TABLE runs ADD COLUMN started_at REAL;
CREATE INDEX runs_started ON runs (status, started_at);

-- /readyz writes a row here and deletes it: "ready" means the store can still write.
CREATE TABLE write_probe (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
