-- The PostgreSQL store's statements, one per "-- name:" section (loaded by store/queries.py).
-- Parameters are psycopg's %(name)s; lists arrive as arrays (= ANY). A parameter that may be
-- NULL is cast, because PostgreSQL cannot infer the type of a bare "$1 IS NULL".

-- name: insert_event
INSERT INTO events (channel, name, status, received_at, chat_id, widget_id, dedup_key, body)
VALUES (%(channel)s, %(name)s, %(status)s, %(received_at)s, %(chat_id)s, %(widget_id)s,
        %(dedup_key)s, %(body)s)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id;

-- name: event_by_key
SELECT id FROM events WHERE dedup_key = %(dedup_key)s;

-- name: insert_run
-- A bundle held at run time gets its new runs paused. The hold and this insert are serialised by
-- the bundles lock (shared here, exclusive in hold_bundle), so no run slips past a new hold.
INSERT INTO runs (event_id, bundle, lane, status, retry_at, created_at, updated_at, version_hash)
VALUES (%(event_id)s, %(bundle)s, %(lane)s,
        CASE WHEN EXISTS (SELECT 1 FROM bundle_holds WHERE bundle = %(bundle)s) THEN 'paused'
             ELSE %(status)s END,
        %(now)s, %(now)s, %(now)s, %(version_hash)s)
RETURNING id, status;

-- name: bundles_lock_shared
-- Held by every transaction that creates runs or versions; hold_bundle, release_bundle and the
-- pruning of versions take it exclusively, so each sees the others' work committed.
SELECT pg_advisory_xact_lock_shared(%(namespace)s, %(key)s);

-- name: bundles_lock
SELECT pg_advisory_xact_lock(%(namespace)s, %(key)s);

-- name: insert_version
INSERT INTO bundle_versions (hash, bundle, file, source, stored_at)
VALUES (%(hash)s, %(bundle)s, %(file)s, %(source)s, %(now)s)
ON CONFLICT (hash) DO NOTHING;

-- name: get_version
SELECT * FROM bundle_versions WHERE hash = %(hash)s;

-- name: prune_versions
DELETE FROM bundle_versions
WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.version_hash = bundle_versions.hash);

-- name: hold_bundle
INSERT INTO bundle_holds (bundle, held_at, held_by, reason)
VALUES (%(bundle)s, %(at)s, %(by)s, %(reason)s)
ON CONFLICT (bundle) DO NOTHING;

-- name: release_bundle
DELETE FROM bundle_holds WHERE bundle = %(bundle)s;

-- name: holds
SELECT * FROM bundle_holds ORDER BY bundle;

-- name: pause_one
UPDATE runs SET status = 'paused', updated_at = %(now)s
WHERE status = 'queued' AND bundle = %(bundle)s;

-- name: resume_one
UPDATE runs SET status = 'queued', updated_at = %(now)s
WHERE status = 'paused' AND bundle = %(bundle)s;

-- name: insert_not_matched
INSERT INTO not_matched (event_id, bundle, reason) VALUES (%(event_id)s, %(bundle)s, %(reason)s)
ON CONFLICT (event_id, bundle) DO UPDATE SET reason = excluded.reason;

-- name: insert_rejection
INSERT INTO rejections (channel, reason, received_at, body, status, remote, content_type)
VALUES (%(channel)s, %(reason)s, %(received_at)s, %(body)s, %(status)s, %(remote)s,
        %(content_type)s);

-- name: count_refusals
INSERT INTO refusal_counts AS c (channel, status, remote, requests, first_at, last_at)
VALUES (%(channel)s, %(status)s, %(remote)s, %(count)s, %(first_at)s, %(last_at)s)
ON CONFLICT (channel, status, remote) DO UPDATE
SET requests = c.requests + excluded.requests, last_at = greatest(c.last_at, excluded.last_at);

-- name: cap_rejections
DELETE FROM rejections WHERE id <= (SELECT max(id) FROM rejections) - %(keep)s;

-- name: cap_remotes
-- Unknown-token remotes: only the ones seen last are kept (a spray from many addresses cannot
-- grow the table).
DELETE FROM refusal_counts AS c
WHERE c.remote <> '' AND (c.channel, c.status, c.remote) NOT IN (
    SELECT channel, status, remote FROM refusal_counts WHERE remote <> ''
    ORDER BY last_at DESC LIMIT %(keep)s
);

-- name: refusals
SELECT * FROM rejections
WHERE (%(channel)s::text IS NULL OR channel = %(channel)s::text)
ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: get_refusal
SELECT * FROM rejections WHERE id = %(id)s;

-- name: refusal_counts
SELECT * FROM refusal_counts ORDER BY channel, status, last_at DESC;

-- name: prune_refusal_counts
DELETE FROM refusal_counts WHERE last_at < %(cutoff)s;

-- name: run_ids_of_event
SELECT id FROM runs WHERE event_id = %(event_id)s ORDER BY id;

-- name: claim
-- The lane predicate: no other running run in my lane, no earlier queued run in my lane.
-- A queued run waiting for its retry_at therefore holds its lane (head-of-line, on purpose).
-- SKIP LOCKED lets instances claim side by side: a run another instance is taking right now is
-- passed over, and its lane's later runs are not eligible anyway (an earlier one is queued).
-- What a snapshot cannot see (a lane head committed a moment ago) the unique index
-- runs_one_running_per_lane catches; the store then claims again.
WITH picked AS (
    SELECT r.id FROM runs AS r
    WHERE r.status = 'queued' AND r.retry_at <= %(now)s
      AND NOT EXISTS (
          SELECT 1 FROM runs AS o
          WHERE o.lane = r.lane AND o.id <> r.id
            AND (o.status = 'running' OR (o.status = 'queued' AND o.id < r.id))
      )
    ORDER BY r.id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE runs
SET status = 'running', lease_owner = %(owner)s, lease_expires = %(until)s, updated_at = %(now)s,
    started_at = coalesce(runs.started_at, %(now)s)
FROM picked
WHERE runs.id = picked.id AND runs.status = 'queued'
RETURNING runs.*;

-- name: heartbeat
UPDATE runs SET lease_expires = %(until)s
WHERE lease_owner = %(owner)s AND status = 'running' AND id = ANY(%(ids)s);

-- name: requeue_expired
UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, updated_at = %(now)s
WHERE status = 'running' AND lease_expires < %(now)s;

-- name: release_owner
UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, updated_at = %(now)s
WHERE status = 'running' AND lease_owner = %(owner)s;

-- name: release_ids
UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, updated_at = %(now)s
WHERE status = 'running' AND lease_owner = %(owner)s AND id = ANY(%(ids)s);

-- name: running_owners
SELECT DISTINCT lease_owner FROM runs WHERE status = 'running' AND lease_owner IS NOT NULL;

-- name: finish_run
UPDATE runs
SET status = %(status)s, ran_hash = %(ran_hash)s, error = %(error)s, reply = %(reply)s,
    lease_owner = NULL, lease_expires = NULL, updated_at = %(now)s
WHERE id = %(id)s AND status = 'running' AND lease_owner = %(owner)s;

-- name: retry_run
UPDATE runs
SET status = 'queued', attempt = attempt + 1, retry_at = %(retry_at)s, ran_hash = %(ran_hash)s,
    error = %(error)s, lease_owner = NULL, lease_expires = NULL, updated_at = %(now)s
WHERE id = %(id)s AND status = 'running' AND lease_owner = %(owner)s;

-- name: hold_run
UPDATE runs SET status = 'paused', lease_owner = NULL, lease_expires = NULL, updated_at = %(now)s
WHERE id = %(id)s AND status = 'running' AND lease_owner = %(owner)s;

-- name: pause_bundles
UPDATE runs SET status = 'paused', updated_at = %(now)s
WHERE status = 'queued' AND bundle = ANY(%(bundles)s);

-- name: resume_bundles
UPDATE runs SET status = 'queued', updated_at = %(now)s
WHERE status = 'paused' AND bundle = ANY(%(bundles)s)
  AND NOT EXISTS (SELECT 1 FROM bundle_holds AS h WHERE h.bundle = runs.bundle);

-- name: step_started
INSERT INTO steps (run_id, step_id, attempt, status, record)
VALUES (%(run_id)s, %(step_id)s, %(attempt)s, 'started', %(record)s)
ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET status = 'started', record = excluded.record;

-- name: step_finished
INSERT INTO steps (run_id, step_id, attempt, status, record)
VALUES (%(run_id)s, %(step_id)s, %(attempt)s, %(status)s, %(record)s)
ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET status = excluded.status,
    record = excluded.record;

-- name: steps_of_run
SELECT run_id, step_id, attempt, status, record FROM steps
WHERE run_id = %(run_id)s ORDER BY attempt, seq;

-- name: get_run
SELECT r.*, e.name AS event_name, e.channel AS channel, e.chat_id AS chat_id
FROM runs AS r JOIN events AS e ON e.id = r.event_id
WHERE r.id = %(id)s;

-- name: get_runs
SELECT r.*, e.name AS event_name, e.channel AS channel, e.chat_id AS chat_id
FROM runs AS r JOIN events AS e ON e.id = r.event_id
WHERE r.id = ANY(%(ids)s)
ORDER BY r.id;

-- name: runs_of_event
SELECT r.*, e.name AS event_name, e.channel AS channel, e.chat_id AS chat_id
FROM runs AS r JOIN events AS e ON e.id = r.event_id
WHERE r.event_id = %(event_id)s
ORDER BY r.id;

-- name: get_event
SELECT * FROM events WHERE id = %(id)s;

-- name: not_matched_of_event
SELECT bundle, reason FROM not_matched WHERE event_id = %(event_id)s ORDER BY seq;

-- name: list_runs
SELECT r.*, e.name AS event_name, e.channel AS channel, e.chat_id AS chat_id
FROM runs AS r JOIN events AS e ON e.id = r.event_id
WHERE (%(bundle)s::text IS NULL OR r.bundle = %(bundle)s::text)
  AND (%(status)s::text IS NULL OR r.status = %(status)s::text)
  AND (%(chat_id)s::text IS NULL OR e.chat_id = %(chat_id)s::text)
  AND (%(channel)s::text IS NULL OR e.channel = %(channel)s::text)
  AND (%(event_name)s::text IS NULL OR e.name = %(event_name)s::text)
  AND (%(since)s::double precision IS NULL OR r.created_at >= %(since)s::double precision)
  AND (%(until)s::double precision IS NULL OR r.created_at < %(until)s::double precision)
ORDER BY r.id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_events
SELECT * FROM events
WHERE (%(chat_id)s::text IS NULL OR chat_id = %(chat_id)s::text)
  AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)
  AND (%(matched)s::boolean IS NULL
       OR %(matched)s::boolean = EXISTS (SELECT 1 FROM runs AS r WHERE r.event_id = events.id))
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: rejections
SELECT * FROM rejections ORDER BY id DESC LIMIT %(limit)s;

-- name: last_event_at
SELECT channel, max(received_at) AS at FROM events GROUP BY channel;

-- name: last_refusals
SELECT DISTINCT ON (channel) * FROM rejections ORDER BY channel, id DESC;

-- name: replay_run
INSERT INTO runs (event_id, bundle, lane, status, retry_at, created_at, updated_at, version_hash,
                  replay_of, pinned)
SELECT event_id, bundle, lane,
       CASE WHEN EXISTS (SELECT 1 FROM bundle_holds AS h WHERE h.bundle = runs.bundle)
            THEN 'paused' ELSE 'queued' END,
       %(now)s, %(now)s, %(now)s, %(version_hash)s, id, %(pinned)s
FROM runs WHERE id = %(id)s
RETURNING id;

-- name: copy_finished_steps
-- Only results that count (never executed again); "started" rows and retriable failures are
-- left behind so the replay does them.
INSERT INTO steps (run_id, step_id, attempt, status, record)
SELECT %(new_id)s, s.step_id, 1, s.status, s.record FROM steps AS s
WHERE s.run_id = %(id)s AND s.status IN ('ok', 'skipped', 'uncertain')
  AND s.attempt = (SELECT max(attempt) FROM steps AS t
                   WHERE t.run_id = s.run_id AND t.step_id = s.step_id)
ORDER BY s.seq;

-- name: prune_older
DELETE FROM events
WHERE received_at < %(cutoff)s
  AND NOT EXISTS (SELECT 1 FROM runs AS r
                  WHERE r.event_id = events.id AND r.status IN ('queued', 'running', 'paused'));

-- name: prune_beyond
DELETE FROM events
WHERE id NOT IN (SELECT id FROM events ORDER BY id DESC LIMIT %(keep)s)
  AND NOT EXISTS (SELECT 1 FROM runs AS r
                  WHERE r.event_id = events.id AND r.status IN ('queued', 'running', 'paused'));

-- name: prune_rejections
DELETE FROM rejections WHERE received_at < %(cutoff)s;

-- name: stats_runs
-- Unfinished runs only: finished ones are counted by the daemon as they end (metrics counters),
-- so a scrape never walks the whole history.
SELECT bundle, status, count(*) AS n FROM runs
WHERE status IN ('queued', 'running', 'paused') GROUP BY bundle, status;

-- name: stats_queue
SELECT count(*) AS n, min(created_at) AS oldest FROM runs
WHERE status = 'queued' AND retry_at <= %(now)s;

-- name: stats_lane_hold
-- The unfinished run that began longest ago: it holds its lane (running, or queued for a retry).
SELECT min(started_at) AS started FROM runs
WHERE status IN ('queued', 'running') AND started_at IS NOT NULL;

-- name: probe_write
INSERT INTO write_probe (data) VALUES (decode(repeat('00', 8192), 'hex')) RETURNING id;

-- name: probe_delete
DELETE FROM write_probe;

-- name: limiter_ensure
INSERT INTO rate_limits (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING;

-- name: limiter_take
-- GCRA in one statement: the row is locked first (FOR UPDATE in the first CTE), the database's
-- clock is read once after that (the second CTE reads from the first, so it runs after the lock
-- is held: a request that waited for the lock is never given a slot in the past), and the send
-- time and the new theoretical arrival time both come from that one reading. The send time is
-- the latest of now, the start of this request's slot (tat minus the burst tolerance) and the
-- end of any pause.
WITH locked AS (
    SELECT name, tat, blocked_until FROM rate_limits WHERE name = %(name)s FOR UPDATE
), clock AS (
    SELECT extract(epoch FROM clock_timestamp())::double precision AS now FROM locked
)
UPDATE rate_limits AS r
SET last_send = greatest(clock.now, locked.tat - %(tolerance)s, locked.blocked_until),
    tat = greatest(locked.tat, clock.now, locked.blocked_until) + %(interval)s
FROM locked, clock
WHERE r.name = locked.name
RETURNING r.last_send AS slot, r.last_send - clock.now AS wait;

-- name: limiter_block
UPDATE rate_limits
SET blocked_until = greatest(blocked_until,
                             extract(epoch FROM clock_timestamp())::double precision
                             + %(seconds)s)
WHERE name = %(name)s;

-- name: limiter_blocked_for
SELECT greatest(0, blocked_until - extract(epoch FROM clock_timestamp())::double precision)
    AS seconds
FROM rate_limits WHERE name = %(name)s;

-- name: token_load
SELECT tokens FROM oauth_tokens WHERE name = %(name)s;

-- name: token_save
INSERT INTO oauth_tokens (name, tokens, updated_at)
VALUES (%(name)s, %(tokens)s, extract(epoch FROM clock_timestamp()))
ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at;

-- name: token_lock
-- Held until the caller's transaction ends (see postgres_tokens.py for why not a session lock).
SELECT pg_advisory_xact_lock(%(namespace)s, hashtext(%(name)s));

-- name: counts
SELECT (SELECT count(*) FROM events) AS events,
       (SELECT count(*) FROM runs) AS runs,
       (SELECT count(*) FROM runs WHERE status = 'queued') AS queued,
       (SELECT count(*) FROM runs WHERE status = 'running') AS running,
       (SELECT count(*) FROM runs WHERE status = 'failed') AS failed,
       (SELECT count(*) FROM steps) AS steps,
       (SELECT count(*) FROM rejections) AS rejections,
       pg_database_size(current_database()) AS bytes;

-- name: claim_take
-- The key becomes the owner's when nobody holds it, the owner already does, or the holder's claim
-- has lapsed; no row back means another owner holds it.
INSERT INTO person_claims (key, owner, expires_at)
VALUES (%(key)s, %(owner)s, extract(epoch FROM clock_timestamp())::double precision + %(lease)s)
ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
WHERE person_claims.owner = EXCLUDED.owner
   OR person_claims.expires_at < extract(epoch FROM clock_timestamp())::double precision
RETURNING owner;

-- name: claim_holder
SELECT owner FROM person_claims
WHERE key = %(key)s AND expires_at >= extract(epoch FROM clock_timestamp())::double precision;

-- name: claim_release
DELETE FROM person_claims WHERE owner = %(owner)s;
