"""The SQLite engine room: one writer thread with group commit, one reader thread, migrations.

Why not one commit per write: with ``synchronous=FULL`` (the honest "stored before acknowledged")
every commit is an fsync. The writer task takes every write waiting in its queue and
runs them in ONE transaction, each under its own savepoint so one failing write does not undo the
others, then resolves each caller's future after the commit. Writes that arrive while a commit is
in flight form the next batch: no artificial delay, the batch grows with the load.

Why plain ``sqlite3`` in dedicated threads rather than aiosqlite: a batch is one function run in
the writer thread (one thread hop per commit, not one per statement), and WAL lets the reader
thread answer queries while the writer commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog

from jivocrm.core.errors import StoreError
from jivocrm.store.queries import migrations

log = structlog.get_logger("jivocrm.store")

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
MAX_BATCH = 512


PRIVATE = 0o600  # the store holds visitors' names, phones and messages


def private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only, or take access from others if it exists
    (a store made by an older version). SQLite gives its -wal and -shm files the database
    file's mode, so they follow.

    An existing file is only chmod-ed, never opened: closing a descriptor of a file drops every
    POSIX lock the process holds on it, SQLite's included (another process could then delete
    the WAL under a live writer)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, PRIVATE))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077:
                os.chmod(file, PRIVATE)
        except FileNotFoundError:
            continue


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the numbered migrations not yet applied; returns their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for migration in migrations("sqlite"):
        if migration.version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration.name)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return [s for s in out if s.strip(" ;\n")]


class Database:
    """A writer (group commit) and a reader over one SQLite file."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="jivocrm-sqlite-w")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="jivocrm-sqlite-r")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[tuple[Op, asyncio.Future[Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # batches committed: writes / commits is the group-commit factor
        self.writes = 0

    async def open(self) -> None:
        loop = asyncio.get_running_loop()

        def setup() -> list[str]:
            private_file(self.path)
            self._writer = connect(self.path, self.synchronous)
            return migrate(self._writer)

        try:
            applied = await loop.run_in_executor(self._writer_pool, setup)
            self._reader = await loop.run_in_executor(
                self._reader_pool, connect, self.path, self.synchronous
            )
        except OSError as exc:
            raise StoreError(f"cannot create the store {self.path}: {exc.strerror}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
        if applied:
            log.info("store_migrated", path=str(self.path), applied=applied)
        self._task = asyncio.create_task(self._write_loop(), name="jivocrm-sqlite-writer")

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        loop = asyncio.get_running_loop()
        for pool, conn in ((self._writer_pool, self._writer), (self._reader_pool, self._reader)):
            if conn is not None:
                await loop.run_in_executor(pool, conn.close)
            pool.shutdown(wait=True)
        self._writer = self._reader = None

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in the next group commit; returns after the commit."""
        if self._task is None:
            raise StoreError("the store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((op, future))
        return await asyncio.shield(future)

    async def read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._reader
        if conn is None:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reader_pool, op, conn)
        except sqlite3.Error as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    async def outside_transaction(self, sql: str) -> None:
        """VACUUM and the like: alone, in the writer thread, after the batches before it."""

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(sql)

        await self.write(_Bare(run))

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    await self._run_batch(loop, batch)
                    return
                batch.append(nxt)
            await self._run_batch(loop, batch)

    async def _run_batch(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Op, asyncio.Future[Any]]]
    ) -> None:
        # A bare op (VACUUM) cannot share a transaction: run the batch in groups around it.
        groups: list[list[tuple[Op, asyncio.Future[Any]]]] = [[]]
        for entry in batch:
            if isinstance(entry[0], _Bare):
                groups += [[entry], []]
            else:
                groups[-1].append(entry)
        for group in filter(None, groups):
            ops = [op for op, _ in group]
            results = await loop.run_in_executor(self._writer_pool, self._commit, ops)
            for (_, future), result in zip(group, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _commit(self, ops: list[Op]) -> list[Any]:
        conn = self._writer
        assert conn is not None
        if len(ops) == 1 and isinstance(ops[0], _Bare):
            try:
                return [ops[0](conn)]
            except sqlite3.Error as exc:
                return [StoreError(f"store maintenance failed: {exc}")]
        results: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                conn.execute("SAVEPOINT op")
                try:
                    results.append(op(conn))
                    conn.execute("RELEASE op")
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    wrapped = exc if not isinstance(exc, sqlite3.Error) else StoreError(str(exc))
                    results.append(wrapped)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # Nothing of this batch is stored (disk full, I/O error): every caller hears it.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.error("store_commit_failed", error=str(exc), writes=len(ops))
            return [StoreError(f"the store could not commit: {exc}")] * len(ops)
        self.commits += 1
        self.writes += len(ops)
        return results


class _Bare:
    """Marks an op that must run outside any transaction."""

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn

    def __call__(self, conn: sqlite3.Connection) -> Any:
        return self.fn(conn)


__all__ = ["Database", "connect", "migrate"]
