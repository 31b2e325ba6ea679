-- Bundle versions, runtime holds and refused deliveries.

-- Every bundle version a run was created with, by its version hash (deduplicated): a failed run
-- can be replayed with the bundle it was accepted under, and `runs show --diff` compares it with
-- the current one. Retention deletes the versions no run refers to any more.
CREATE TABLE bundle_versions (
    hash      TEXT PRIMARY KEY,
    bundle    TEXT NOT NULL,
    file      TEXT NOT NULL,
    source    TEXT NOT NULL,
    stored_at DOUBLE PRECISION NOT NULL
);
-- A replay that runs with the version it recorded (`--config original`), not the project's own.
ALTER TABLE runs ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT false;

-- Bundles paused at run time (`jivocrm bundles pause`, the /ui button) on top of the file's
-- `enabled`; their runs wait as "paused" and queue again on resume.
CREATE TABLE bundle_holds (
    bundle  TEXT PRIMARY KEY,
    held_at DOUBLE PRECISION NOT NULL,
    held_by TEXT NOT NULL,
    reason  TEXT NOT NULL DEFAULT ''
);

-- Refused deliveries keep their status and a bounded, redacted excerpt (in body), not the body.
ALTER TABLE rejections ADD COLUMN status INTEGER NOT NULL DEFAULT 403;
ALTER TABLE rejections ADD COLUMN remote TEXT;
ALTER TABLE rejections ADD COLUMN content_type TEXT;

-- Every refused request counted, those recorded in detail and those past the recording cap alike;
-- unknown tokens (channel '') per remote address, without their bodies.
CREATE TABLE refusal_counts (
    channel  TEXT NOT NULL,
    status   INTEGER NOT NULL,
    remote   TEXT NOT NULL DEFAULT '',
    requests BIGINT NOT NULL,
    first_at DOUBLE PRECISION NOT NULL,
    last_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (channel, status, remote)
);
