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
    BundleHold,
    BundleVersion,
    Event,
    EventDetail,
    NewEvent,
    Refusal,
    RefusalCount,
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
    count_from_row,
    event_from_row,
    refusal_from_row,
    refusal_params,
    run_from_row,
    step_from_row,
    to_json,
    version_from_row,
    version_params,
)

Q = load_queries("sqlite")
REFUSALS_KEPT = 1000


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
            run_ids, paused = [], []
            for version in event.versions:
                conn.execute(Q["insert_version"], version_params(version, event.received_at))
            for run in event.runs:
                params = {
                    "event_id": event_id,
                    "bundle": run.bundle,
                    "lane": run.lane,
                    "status": "paused" if run.paused else "queued",
                    "now": event.received_at,
                    "version_hash": run.version_hash,
                }
                created = conn.execute(Q["insert_run"], params).fetchone()
                run_ids.append(created[0])
                if created[1] == "paused":
                    paused.append(created[0])
            for bundle, reason in event.not_matched:
                conn.execute(
                    Q["insert_not_matched"],
                    {"event_id": event_id, "bundle": bundle, "reason": reason},
                )
            return Accepted(event_id, tuple(run_ids), paused=tuple(paused))

        return await self.db.write(op)

    async def reject(self, channel: str, reason: str, body: bytes, received_at: float) -> None:
        refusal = Refusal(channel, 403, reason, received_at, body)
        count = RefusalCount(channel, 403, 1, received_at, received_at)
        await self.record_refusals([refusal], [count], keep=REFUSALS_KEPT)

    async def record_refusals(
        self, detailed: Sequence[Refusal], counts: Sequence[RefusalCount], *, keep: int
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            for refusal in detailed:
                conn.execute(Q["insert_rejection"], refusal_params(refusal))
            for count in counts:
                conn.execute(Q["count_refusals"], asdict(count))
            if detailed:
                conn.execute(Q["cap_rejections"], {"keep": keep})
            if any(c.remote for c in counts):
                conn.execute(Q["cap_remotes"], {"keep": keep})

        await self.db.write(op)

    async def refusals(
        self, *, channel: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Rejection]:
        params = {"channel": channel, "limit": limit, "offset": offset}
        rows = await self.db.read(lambda c: c.execute(Q["refusals"], params).fetchall())
        return [refusal_from_row(r) for r in rows]

    async def get_refusal(self, refusal_id: int) -> Rejection | None:
        params = {"id": refusal_id}
        row = await self.db.read(lambda c: c.execute(Q["get_refusal"], params).fetchone())
        return refusal_from_row(row) if row else None

    async def refusal_counts(self) -> list[RefusalCount]:
        rows = await self.db.read(lambda c: c.execute(Q["refusal_counts"]).fetchall())
        return [count_from_row(r) for r in rows]

    async def last_refusals(self) -> dict[str, Rejection]:
        rows = await self.db.read(lambda c: c.execute(Q["last_refusals"]).fetchall())
        return {r["channel"]: refusal_from_row(r) for r in rows}

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

    async def _updates(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
        now = time.time()
        for _, params in items:
            params.setdefault("now", now)
        return await self.db.write(lambda c: [c.execute(Q[n], p).rowcount for n, p in items])

    @staticmethod
    def _ids(values: Sequence[Any]) -> Any:
        return to_json(list(values))

    # ---- runtime holds -----------------------------------------------------------------------
    async def hold_bundle(self, bundle: str, *, by: str, reason: str = "", at: float) -> int:
        params = {"bundle": bundle, "by": by, "reason": reason, "at": at, "now": at}

        def op(conn: sqlite3.Connection) -> int:
            conn.execute(Q["hold_bundle"], params)
            return int(conn.execute(Q["pause_one"], params).rowcount)

        return await self.db.write(op)

    async def release_bundle(self, bundle: str, *, requeue: bool) -> int:
        params = {"bundle": bundle, "now": time.time()}

        def op(conn: sqlite3.Connection) -> int:
            conn.execute(Q["release_bundle"], params)
            return int(conn.execute(Q["resume_one"], params).rowcount) if requeue else 0

        return await self.db.write(op)

    async def holds(self) -> list[BundleHold]:
        rows = await self.db.read(lambda c: c.execute(Q["holds"]).fetchall())
        return [BundleHold(r["bundle"], r["held_at"], r["held_by"], r["reason"]) for r in rows]

    # ---- bundle versions ---------------------------------------------------------------------
    async def keep_versions(self, versions: Sequence[BundleVersion]) -> None:
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            for version in versions:
                conn.execute(Q["insert_version"], version_params(version, now))

        if versions:
            await self.db.write(op)

    async def bundle_version(self, version_hash: str) -> BundleVersion | None:
        params = {"hash": version_hash}
        row = await self.db.read(lambda c: c.execute(Q["get_version"], params).fetchone())
        return version_from_row(row) if row else None

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
        self,
        *,
        chat_id: str | None = None,
        channel: str | None = None,
        matched: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Event]:
        params = {
            "chat_id": chat_id,
            "channel": channel,
            "matched": matched,
            "limit": limit,
            "offset": offset,
        }
        rows = await self.db.read(lambda c: c.execute(Q["list_events"], params).fetchall())
        return [event_from_row(r) for r in rows]

    async def rejections(self, limit: int = 100) -> list[Rejection]:
        return await self.refusals(limit=limit)

    async def last_event_at(self) -> dict[str, float]:
        rows = await self.db.read(lambda c: c.execute(Q["last_event_at"]).fetchall())
        return {r["channel"]: r["at"] for r in rows}

    async def replay(
        self,
        run_id: int,
        *,
        from_start: bool,
        version_hash: str,
        version: BundleVersion | None = None,
        pinned: bool = False,
    ) -> int:
        def op(conn: sqlite3.Connection) -> int:
            now = time.time()
            if version is not None:
                conn.execute(Q["insert_version"], version_params(version, now))
            params = {"id": run_id, "now": now, "version_hash": version_hash, "pinned": pinned}
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
                conn.execute(Q["prune_refusal_counts"], {"cutoff": older_than})
            if keep is not None:
                deleted += conn.execute(Q["prune_beyond"], {"keep": keep}).rowcount
            conn.execute(Q["prune_versions"])
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
