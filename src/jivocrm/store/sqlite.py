"""The ``Store`` protocol on SQLite (WAL, ``synchronous=FULL``, group commit): the default store.

Each method is a small function run by ``Database`` either in the writer's next group commit or
in the reader thread; the statements themselves live in ``sql/sqlite/queries.sql``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jivocrm.store.base import (
    Accepted,
    Event,
    EventDetail,
    NewEvent,
    Rejection,
    Run,
    RunFilter,
    StepRow,
    StoreStats,
)
from jivocrm.store.queries import load_queries
from jivocrm.store.sqlite_db import Database
from jivocrm.store.statements import (
    StatementWrites,
    event_from_row,
    run_from_row,
    step_from_row,
    to_json,
)

Q = load_queries("sqlite")


class SQLiteStore(StatementWrites):
    """SQLite file at ``path``; ``synchronous`` FULL by default (NORMAL trades the last commits
    on power loss for speed, never on a killed process)."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.db = Database(path, synchronous)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.read(lambda c: c.execute("SELECT 1").fetchone())

        def probe(conn: sqlite3.Connection) -> None:
            conn.execute(Q["probe_write"])
            conn.execute(Q["probe_delete"])

        await self.db.write(probe)

    # ---- intake ------------------------------------------------------------------------------
    async def accept(self, event: NewEvent) -> Accepted:
        def op(conn: sqlite3.Connection) -> Accepted:
            fields = {
                "channel": event.channel,
                "name": event.name,
                "status": event.status,
                "received_at": event.received_at,
                "chat_id": event.chat_id,
                "widget_id": event.widget_id,
                "dedup_key": event.dedup_key,
                "body": event.body,
            }
            row = conn.execute(Q["insert_event"], fields).fetchone()
            if row is None:  # the redelivery of a stored event: answer with the first one's runs
                event_id = conn.execute(Q["event_by_key"], fields).fetchone()[0]
                ids = conn.execute(Q["run_ids_of_event"], {"event_id": event_id}).fetchall()
                return Accepted(event_id, tuple(r[0] for r in ids), duplicate=True)
            event_id = row[0]
            run_ids = []
            for run in event.runs:
                params = {
                    "event_id": event_id,
                    "bundle": run.bundle,
                    "lane": run.lane,
                    "status": "paused" if run.paused else "queued",
                    "now": event.received_at,
                    "version_hash": run.version_hash,
                }
                run_ids.append(conn.execute(Q["insert_run"], params).fetchone()[0])
            for bundle, reason in event.not_matched:
                conn.execute(
                    Q["insert_not_matched"],
                    {"event_id": event_id, "bundle": bundle, "reason": reason},
                )
            return Accepted(event_id, tuple(run_ids))

        return await self.db.write(op)

    async def reject(self, channel: str, reason: str, body: bytes, received_at: float) -> None:
        params = {"channel": channel, "reason": reason, "received_at": received_at, "body": body}
        await self.db.write(lambda c: c.execute(Q["insert_rejection"], params))

    # ---- queue -------------------------------------------------------------------------------
    async def claim(self, owner: str, *, now: float, lease: float, limit: int = 1) -> list[Run]:
        params = {"owner": owner, "now": now, "until": now + lease, "limit": limit}

        def op(conn: sqlite3.Connection) -> list[Run]:
            rows = conn.execute(Q["claim"], params).fetchall()
            return sorted((run_from_row(r) for r in rows), key=lambda r: r.id)

        return await self.db.write(op)

    async def _update(self, name: str, params: dict[str, Any]) -> int:
        params.setdefault("now", time.time())
        return await self.db.write(lambda c: c.execute(Q[name], params).rowcount)

    @staticmethod
    def _ids(values: Sequence[Any]) -> Any:
        return to_json(list(values))

    async def running_owners(self) -> list[str]:
        rows = await self.db.read(lambda c: c.execute(Q["running_owners"]).fetchall())
        return [r[0] for r in rows]

    # ---- journal -----------------------------------------------------------------------------
    async def steps(self, run_id: int) -> list[StepRow]:
        rows = await self.db.read(lambda c: c.execute(Q["steps_of_run"], {"run_id": run_id}))
        return [step_from_row(r) for r in rows]

    async def get_run(self, run_id: int) -> Run | None:
        row = await self.db.read(lambda c: c.execute(Q["get_run"], {"id": run_id}).fetchone())
        return run_from_row(row) if row else None

    async def get_runs(self, run_ids: Sequence[int]) -> list[Run]:
        ids = to_json(list(run_ids))
        rows = await self.db.read(lambda c: c.execute(Q["get_runs"], {"ids": ids}).fetchall())
        return [run_from_row(r) for r in rows]

    async def get_event(self, event_id: int) -> Event | None:
        row = await self.db.read(lambda c: c.execute(Q["get_event"], {"id": event_id}).fetchone())
        return event_from_row(row) if row else None

    async def not_matched(self, event_id: int) -> list[tuple[str, str]]:
        params = {"event_id": event_id}
        rows = await self.db.read(lambda c: c.execute(Q["not_matched_of_event"], params).fetchall())
        return [(r["bundle"], r["reason"]) for r in rows]

    async def event_detail(self, event_id: int) -> EventDetail | None:
        event = await self.get_event(event_id)
        if event is None:
            return None
        params = {"event_id": event_id}
        rows = await self.db.read(lambda c: c.execute(Q["runs_of_event"], params).fetchall())
        runs = [run_from_row(r) for r in rows]
        steps = {run.id: await self.steps(run.id) for run in runs}
        return EventDetail(event, runs, await self.not_matched(event_id), steps)

    async def list_runs(self, flt: RunFilter) -> list[Run]:
        params = asdict(flt)
        rows = await self.db.read(lambda c: c.execute(Q["list_runs"], params).fetchall())
        return [run_from_row(r) for r in rows]

    async def list_events(
        self, *, chat_id: str | None = None, channel: str | None = None, limit: int = 100
    ) -> list[Event]:
        params = {"chat_id": chat_id, "channel": channel, "limit": limit}
        rows = await self.db.read(lambda c: c.execute(Q["list_events"], params).fetchall())
        return [event_from_row(r) for r in rows]

    async def rejections(self, limit: int = 100) -> list[Rejection]:
        rows = await self.db.read(lambda c: c.execute(Q["rejections"], {"limit": limit}))
        return [
            Rejection(r["id"], r["channel"], r["reason"], r["received_at"], bytes(r["body"]))
            for r in rows
        ]

    async def last_event_at(self) -> dict[str, float]:
        rows = await self.db.read(lambda c: c.execute(Q["last_event_at"]).fetchall())
        return {r["channel"]: r["at"] for r in rows}

    async def replay(self, run_id: int, *, from_start: bool, version_hash: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            params = {"id": run_id, "now": time.time(), "version_hash": version_hash}
            row = conn.execute(Q["replay_run"], params).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id}")
            if not from_start:
                conn.execute(Q["copy_finished_steps"], {"id": run_id, "new_id": row[0]})
            return int(row[0])

        return await self.db.write(op)

    async def prune(self, *, older_than: float | None, keep: int | None) -> int:
        def op(conn: sqlite3.Connection) -> int:
            deleted = 0
            if older_than is not None:
                deleted += conn.execute(Q["prune_older"], {"cutoff": older_than}).rowcount
                conn.execute(Q["prune_rejections"], {"cutoff": older_than})
            if keep is not None:
                deleted += conn.execute(Q["prune_beyond"], {"keep": keep}).rowcount
            return deleted

        deleted = await self.db.write(op)
        if deleted:
            # Deleting only marks pages free; VACUUM compacts. In WAL mode VACUUM writes the
            # compacted pages into the log, so the disk gets the space back only once a
            # checkpoint copies them home and truncates the log.
            await self.db.outside_transaction("VACUUM")
            await self.db.outside_transaction("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    async def stats(self, *, now: float) -> StoreStats:
        def op(conn: sqlite3.Connection) -> StoreStats:
            runs = {(r["bundle"], r["status"]): r["n"] for r in conn.execute(Q["stats_runs"])}
            queue = conn.execute(Q["stats_queue"], {"now": now}).fetchone()
            held = conn.execute(Q["stats_lane_hold"]).fetchone()
            return StoreStats(runs, queue["n"], queue["oldest"], held["started"])

        return await self.db.read(op)


__all__ = ["SQLiteStore"]
