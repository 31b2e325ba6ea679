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
-- A bundle held at run time gets its new runs paused, whatever the caller saw of the hold.
INSERT INTO runs (event_id, bundle, lane, status, retry_at, created_at, updated_at, version_hash)
VALUES (:event_id, :bundle, :lane,
        CASE WHEN EXISTS (SELECT 1 FROM bundle_holds WHERE bundle = :bundle) THEN 'paused'
             ELSE :status END,
        :now, :now, :now, :version_hash)
RETURNING id, status;

-- name: insert_version
INSERT INTO bundle_versions (hash, bundle, file, source, stored_at)
VALUES (:hash, :bundle, :file, :source, :now)
ON CONFLICT (hash) DO NOTHING;

-- name: get_version
SELECT * FROM bundle_versions WHERE hash = :hash;

-- name: prune_versions
DELETE FROM bundle_versions
WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.version_hash = bundle_versions.hash);

-- name: hold_bundle
INSERT INTO bundle_holds (bundle, held_at, held_by, reason) VALUES (:bundle, :at, :by, :reason)
ON CONFLICT (bundle) DO NOTHING;

-- name: release_bundle
DELETE FROM bundle_holds WHERE bundle = :bundle;

-- name: holds
SELECT * FROM bundle_holds ORDER BY bundle;

-- name: pause_one
UPDATE runs SET status = 'paused', updated_at = :now WHERE status = 'queued' AND bundle = :bundle;

-- name: resume_one
UPDATE runs SET status = 'queued', updated_at = :now WHERE status = 'paused' AND bundle = :bundle;

-- name: insert_not_matched
INSERT OR REPLACE INTO not_matched (event_id, bundle, reason) VALUES (:event_id, :bundle, :reason);

-- name: insert_rejection
INSERT INTO rejections (channel, reason, received_at, body, status, remote, content_type)
VALUES (:channel, :reason, :received_at, :body, :status, :remote, :content_type);

-- name: count_refusals
INSERT INTO refusal_counts (channel, status, remote, requests, first_at, last_at)
VALUES (:channel, :status, :remote, :count, :first_at, :last_at)
ON CONFLICT (channel, status, remote) DO UPDATE
SET requests = requests + excluded.requests, last_at = max(last_at, excluded.last_at);

-- name: cap_rejections
DELETE FROM rejections WHERE id <= (SELECT max(id) FROM rejections) - :keep;

-- name: cap_remotes
-- Unknown-token remotes: only the ones seen last are kept (a spray from many addresses cannot
-- grow the table).
DELETE FROM refusal_counts
WHERE remote <> '' AND rowid NOT IN (
    SELECT rowid FROM refusal_counts WHERE remote <> '' ORDER BY last_at DESC LIMIT :keep
);

-- name: refusals
SELECT * FROM rejections
WHERE (:channel IS NULL OR channel = :channel)
ORDER BY id DESC LIMIT :limit OFFSET :offset;

-- name: get_refusal
SELECT * FROM rejections WHERE id = :id;

-- name: refusal_counts
SELECT * FROM refusal_counts ORDER BY channel, status, last_at DESC;

-- name: prune_refusal_counts
DELETE FROM refusal_counts WHERE last_at < :cutoff;

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
WHERE status = 'paused' AND bundle IN (SELECT value FROM json_each(:bundles))
  AND NOT EXISTS (SELECT 1 FROM bundle_holds AS h WHERE h.bundle = runs.bundle);

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
  AND (:matched IS NULL
       OR :matched = EXISTS (SELECT 1 FROM runs AS r WHERE r.event_id = events.id))
ORDER BY id DESC
LIMIT :limit OFFSET :offset;

-- name: rejections
SELECT * FROM rejections ORDER BY id DESC LIMIT :limit;

-- name: last_event_at
SELECT channel, max(received_at) AS at FROM events GROUP BY channel;

-- name: last_refusals
SELECT r.* FROM rejections AS r
WHERE r.id = (SELECT max(id) FROM rejections AS o WHERE o.channel = r.channel);

-- name: replay_run
INSERT INTO runs (event_id, bundle, lane, status, retry_at, created_at, updated_at, version_hash,
                  replay_of, pinned)
SELECT event_id, bundle, lane,
       CASE WHEN EXISTS (SELECT 1 FROM bundle_holds AS h WHERE h.bundle = runs.bundle)
            THEN 'paused' ELSE 'queued' END,
       :now, :now, :now, :version_hash, id, :pinned
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
