"""The PostgreSQL engine room: the connection pool, error mapping and numbered migrations.

Why psycopg 3 (with psycopg_pool) rather than asyncpg:

* one driver API both sync and async: the daemon uses the async pool, and nothing stops a
  sync caller (a one-shot CLI, a test) from using the same statements the same way;
* ``psycopg_pool`` gives a maintained async pool that checks connections on checkout and
  reconnects after a server restart (reliability scenario 17);
* ``prepare_threshold=None`` turns server-side prepared statements off, so the store also works
  behind PgBouncer in transaction pooling mode; LISTEN/NOTIFY and pipeline mode are there when
  claim latency ever needs them;
* it is procrastinate's driver, the queue whose lane semantics our claim copies.

asyncpg is faster per statement, but our statements are few and short; the cost that matters
(one commit per accepted event) is the server's fsync, the same for both drivers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import structlog
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from jivocrm.core.errors import StoreError
from jivocrm.store.queries import Migration, load_queries, migrations

log = structlog.get_logger("jivocrm.store")

Conn = psycopg.AsyncConnection[DictRow]
# Statements as bytes: psycopg's typing accepts literal strings or bytes, and ours come from a file.
Q: dict[str, bytes] = {name: sql.encode() for name, sql in load_queries("postgres").items()}

# Keys of advisory locks, (namespace, key) pairs: an arbitrary namespace for
# jivocrm so that other applications' single-bigint advisory locks on the same database never
# collide with ours.
LOCK_NAMESPACE = 0x6A69  # "ji"
MIGRATION_LOCK = 1
BUNDLES_LOCK = 2  # runtime holds and bundle versions against the runs created meanwhile
TOKEN_LOCK_NAMESPACE = 0x6A6A  # "jj": second key is hashtext(connection name)

# Options of ours in the store URL; libpq rejects query parameters it does not know.
POOL_OPTIONS = ("pool_min_size", "pool_max_size", "pool_timeout")


def split_url(url: str) -> tuple[str, dict[str, float]]:
    """(libpq URL, pool options): ``?pool_max_size=20`` sizes the pool and is not sent on."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: float(v) for k, v in query if k in POOL_OPTIONS}
    rest = [(k, v) for k, v in query if k not in POOL_OPTIONS]
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment)), ours


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Database:
    """A pool of autocommit connections; a method that needs a transaction opens one."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url, options = split_url(url)
        self.shown_url = redact_url(url)
        self.timeout = options.get("pool_timeout", 10.0)
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url,
            min_size=int(options.get("pool_min_size", min_size)),
            max_size=int(options.get("pool_max_size", max_size)),
            open=False,
            timeout=self.timeout,
            connection_class=psycopg.AsyncConnection[DictRow],
            kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
            # A connection broken by a server restart is found on checkout, not by a caller.
            check=AsyncConnectionPool.check_connection,
            name="jivocrm-store",
        )

    async def open(self) -> None:
        try:
            await self.pool.open(wait=True, timeout=self.timeout)
        except (PoolTimeout, psycopg.Error) as exc:
            await self.pool.close()
            raise StoreError(
                f"cannot connect to the store {self.shown_url}: {exc}; check that PostgreSQL "
                "runs, the URL's host, port, user and database, and that the user may log in"
            ) from exc

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        try:
            async with self.pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreError(f"the store {self.shown_url} did not answer in time: {exc}") from exc
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            raise  # the claim handles these itself
        except psycopg.Error as exc:
            raise StoreError(f"store operation failed: {exc}") from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetchall(self, name: str, params: dict[str, Any] | None = None) -> list[DictRow]:
        async with self.connection() as conn:
            cur = await conn.execute(Q[name], params)
            return await cur.fetchall()

    async def fetchone(self, name: str, params: dict[str, Any] | None = None) -> DictRow | None:
        async with self.connection() as conn:
            cur = await conn.execute(Q[name], params)
            return await cur.fetchone()

    async def execute(self, name: str, params: dict[str, Any] | None = None) -> int:
        """Run one statement (its own transaction); returns the rows it changed."""
        async with self.connection() as conn:
            cur = await conn.execute(Q[name], params)
            return cur.rowcount


# ---- migrations ------------------------------------------------------------------------------
CREATE_MIGRATIONS = b"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)"""


async def applied_versions(conn: Conn) -> set[int]:
    exists = await conn.execute(b"SELECT to_regclass('schema_migrations') AS t")
    row = await exists.fetchone()
    if row is None or row["t"] is None:
        return set()
    cur = await conn.execute(b"SELECT version FROM schema_migrations")
    return {int(r["version"]) for r in await cur.fetchall()}


async def pending(conn: Conn) -> list[Migration]:
    done = await applied_versions(conn)
    return [m for m in migrations("postgres") if m.version not in done]


async def migrate(conn: Conn) -> list[str]:
    """Apply the migrations not yet applied, all in one transaction; returns their names.

    Several instances starting at once all call this: the advisory lock makes the first one do
    the work and the others find nothing left to do. DDL is transactional in PostgreSQL, so a
    failing migration leaves the schema as it was.
    """
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute(
            b"SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, MIGRATION_LOCK)
        )
        await conn.execute(CREATE_MIGRATIONS)
        for migration in await pending(conn):
            # No parameters: psycopg sends the file as one simple query, statements and all.
            await conn.execute(migration.sql.encode())
            await conn.execute(
                b"INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                (migration.version, migration.name, time.time()),
            )
            applied.append(migration.name)
    return applied


async def connect(url: str) -> Conn:
    """One connection outside any pool (the ``store`` CLI commands)."""
    libpq_url, _ = split_url(url)
    try:
        return await psycopg.AsyncConnection.connect(
            libpq_url, autocommit=True, prepare_threshold=None, row_factory=dict_row
        )
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to the store {redact_url(url)}: {exc}") from exc


__all__ = [
    "BUNDLES_LOCK",
    "LOCK_NAMESPACE",
    "TOKEN_LOCK_NAMESPACE",
    "Conn",
    "Database",
    "Q",
    "applied_versions",
    "connect",
    "migrate",
    "pending",
    "redact_url",
    "split_url",
]
