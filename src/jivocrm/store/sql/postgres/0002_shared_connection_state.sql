-- State that several daemon instances share per CRM connection (PostgreSQL only: one SQLite
-- file serves one process, whose limiters and token files live in that process).

-- One row per connection: a GCRA rate limiter. tat is the "theoretical arrival time" of the next
-- request; blocked_until is the end of a pause the CRM asked for (429 retry_after, Bitrix24
-- QUERY_LIMIT_EXCEEDED). Both are database-clock Unix seconds, so instances on machines with
-- skewed clocks still share one timeline.
CREATE TABLE rate_limits (
    name          TEXT PRIMARY KEY,
    tat           DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_send     DOUBLE PRECISION NOT NULL DEFAULT 0,
    blocked_until DOUBLE PRECISION NOT NULL DEFAULT 0
);

-- The newest OAuth token pair of a connection. Refresh tokens are single-use, so every instance
-- must read the pair another instance just stored (under pg_advisory_lock, see postgres_tokens.py).
CREATE TABLE oauth_tokens (
    name       TEXT PRIMARY KEY,
    tokens     TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
