-- The SQLite store's statements, one per "-- name:" section (loaded by store/queries.py).
-- Lists of ids arrive as one JSON array parameter and are unpacked with json_each.

-- name: insert_event
INSERT INTO events (channel, name, status, received_at, chat_id, widget_id, dedup_key, body)
VALUES (:channel, :name, :status, :received_at, :chat_id, :widget_id, :dedup_key, :body)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id;

-- name: event_by_key
SELECT id FROM events WHERE dedup_key = :dedup_key;

-- name: insert_run
INSERT INTO runs (event_id, bundle, lane, status, retry_at, created_at, updated_at, version_hash)
VALUES (:event_id, :bundle, :lane, :status, :now, :now, :now, :version_hash)
RETURNING id;

-- name: insert_not_matched
INSERT OR REPLACE INTO not_matched (event_id, bundle, reason) VALUES (:event_id, :bundle, :reason);

-- name: insert_rejection
INSERT INTO rejections (channel, reason, received_at, body)
VALUES (:channel, :reason, :received_at, :body);

-- name: run_ids_of_event
SELECT id FROM runs WHERE event_id = :event_id ORDER BY id;

-- name: claim
-- The lane predicate: no other running run in my lane, no earlier queued run in my lane.
-- A queued run waiting for its retry_at therefore holds its lane (head-of-line, on purpose).
UPDATE runs
SET status = 'running', lease_owner = :owner, lease_expires = :until, updated_at = :now,
    started_at = coalesce(started_at, :now)
WHERE id IN (
    SELECT r.id FROM runs AS r
    WHERE r.status = 'queued' AND r.retry_at <= :now
      AND NOT EXISTS (
          SELECT 1 FROM runs AS o
          WHERE o.lane = r.lane AND o.id <> r.id
            AND (o.status = 'running' OR (o.status = 'queued' AND o.id < r.id))
      )
    ORDER BY r.id
    LIMIT :limit
)
RETURNING *;

-- name: heartbeat
UPDATE runs SET lease_expires = :until
WHERE lease_owner = :owner AND status = 'running'
  AND id IN (SELECT value FROM json_each(:ids));

-- name: requeue_expired
UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE status = 'running' AND lease_expires < :now;

-- name: release_owner
UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE status = 'running' AND lease_owner = :owner;

-- name: release_ids
UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE status = 'running' AND lease_owner = :owner
  AND id IN (SELECT value FROM json_each(:ids));

-- name: running_owners
SELECT DISTINCT lease_owner FROM runs WHERE status = 'running' AND lease_owner IS NOT NULL;

-- name: finish_run
UPDATE runs
SET status = :status, ran_hash = :ran_hash, error = :error, reply = :reply,
    lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE id = :id AND status = 'running' AND lease_owner = :owner;

-- name: retry_run
UPDATE runs
SET status = 'queued', attempt = attempt + 1, retry_at = :retry_at, ran_hash = :ran_hash,
    error = :error, lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE id = :id AND status = 'running' AND lease_owner = :owner;

-- name: hold_run
UPDATE runs SET status = 'paused', lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE id = :id AND status = 'running' AND lease_owner = :owner;

-- name: pause_bundles
UPDATE runs SET status = 'paused', updated_at = :now
WHERE status = 'queued' AND bundle IN (SELECT value FROM json_each(:bundles));

-- name: resume_bundles
UPDATE runs SET status = 'queued', updated_at = :now
WHERE status = 'paused' AND bundle IN (SELECT value FROM json_each(:bundles));

-- name: step_started
INSERT INTO steps (run_id, step_id, attempt, status, record)
VALUES (:run_id, :step_id, :attempt, 'started', :record)
ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET status = 'started', record = excluded.record;

-- name: step_finished
INSERT INTO steps (run_id, step_id, attempt, status, record)
VALUES (:run_id, :step_id, :attempt, :status, :record)
ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET status = excluded.status,
    record = excluded.record;

-- name: steps_of_run
SELECT * FROM steps WHERE run_id = :run_id ORDER BY attempt, rowid;

-- name: get_run
SELECT r.*, e.name AS event_name, e.channel AS channel, e.chat_id AS chat_id
FROM runs AS r JOIN events AS e ON e.id = r.event_id
WHERE r.id = :id;

-- name: get_runs
SELECT r.*, e.name AS event_name, e.channel AS channel, e.chat_id AS chat_id
FROM runs AS r JOIN events AS e ON e.id = r.event_id
WHERE r.id IN (SELECT value FROM json_each(:ids))
ORDER BY r.id;

-- name: runs_of_event
SELECT r.*, e.name AS event_name, e.channel AS channel, e.chat_id AS chat_id
FROM runs AS r JOIN events AS e ON e.id = r.event_id
WHERE r.event_id = :event_id
ORDER BY r.id;

-- name: get_event
SELECT * FROM events WHERE id = :id;

-- name: not_matched_of_event
SELECT bundle, reason FROM not_matched WHERE event_id = :event_id ORDER BY rowid;

-- name: list_runs
SELECT r.*, e.name AS event_name, e.channel AS channel, e.chat_id AS chat_id
FROM runs AS r JOIN events AS e ON e.id = r.event_id
WHERE (:bundle IS NULL OR r.bundle = :bundle)
  AND (:status IS NULL OR r.status = :status)
  AND (:chat_id IS NULL OR e.chat_id = :chat_id)
  AND (:channel IS NULL OR e.channel = :channel)
  AND (:event_name IS NULL OR e.name = :event_name)
  AND (:since IS NULL OR r.created_at >= :since)
  AND (:until IS NULL OR r.created_at < :until)
ORDER BY r.id DESC
LIMIT :limit OFFSET :offset;

-- name: list_events
SELECT * FROM events
WHERE (:chat_id IS NULL OR chat_id = :chat_id)
  AND (:channel IS NULL OR channel = :channel)
ORDER BY id DESC
LIMIT :limit;

-- name: rejections
SELECT * FROM rejections ORDER BY id DESC LIMIT :limit;

-- name: last_event_at
SELECT channel, max(received_at) AS at FROM events GROUP BY channel;

-- name: replay_run
INSERT INTO runs (event_id, bundle, lane, status, retry_at, created_at, updated_at, version_hash,
                  replay_of)
SELECT event_id, bundle, lane, 'queued', :now, :now, :now, :version_hash, id
FROM runs WHERE id = :id
RETURNING id;

-- name: copy_finished_steps
-- Only results that count (never executed again); "started" rows and retriable failures are
-- left behind so the replay does them.
INSERT INTO steps (run_id, step_id, attempt, status, record)
SELECT :new_id, step_id, 1, status, record FROM steps
WHERE run_id = :id AND status IN ('ok', 'skipped', 'uncertain')
  AND attempt = (SELECT max(attempt) FROM steps AS s
                 WHERE s.run_id = steps.run_id AND s.step_id = steps.step_id);

-- name: prune_older
DELETE FROM events
WHERE received_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM runs AS r
                  WHERE r.event_id = events.id AND r.status IN ('queued', 'running', 'paused'));

-- name: prune_beyond
DELETE FROM events
WHERE id NOT IN (SELECT id FROM events ORDER BY id DESC LIMIT :keep)
  AND NOT EXISTS (SELECT 1 FROM runs AS r
                  WHERE r.event_id = events.id AND r.status IN ('queued', 'running', 'paused'));

-- name: prune_rejections
DELETE FROM rejections WHERE received_at < :cutoff;

-- name: stats_runs
-- Unfinished runs only: finished ones are counted by the daemon as they end (metrics counters),
-- so a scrape never walks the whole history.
SELECT bundle, status, count(*) AS n FROM runs
WHERE status IN ('queued', 'running', 'paused') GROUP BY bundle, status;

-- name: stats_queue
SELECT count(*) AS n, min(created_at) AS oldest FROM runs
WHERE status = 'queued' AND retry_at <= :now;

-- name: stats_lane_hold
-- The unfinished run that began longest ago: it holds its lane (running, or queued for a retry).
SELECT min(started_at) AS started FROM runs
WHERE status IN ('queued', 'running') AND started_at IS NOT NULL;

-- name: probe_write
INSERT INTO write_probe (data) VALUES (zeroblob(8192)) RETURNING id;

-- name: probe_delete
DELETE FROM write_probe;
