"""The ``Store`` protocol on PostgreSQL: several daemon instances share one database.

Same contract as the SQLite store (one contract suite runs against both); what changes is who
else is writing. Every instance accepts webhooks and claims runs, so:

* claims use ``FOR UPDATE SKIP LOCKED`` with the lane predicate, and a unique partial index
  (one ``running`` run per lane) settles the rare race that a statement snapshot cannot see —
  a lane runs on one instance at a time, in order;
* an instance that dies keeps its runs only until their lease expires: any instance's
  ``requeue_expired`` puts them back;
* rate limits and OAuth tokens of a CRM connection are shared through the database
  (``rate_limiter`` / ``token_store``: ``postgres_limits.py``, ``postgres_tokens.py``).

The driver is psycopg 3 with psycopg_pool; why, see ``postgres_db.py``. Statements live in
``sql/postgres/queries.sql``, the schema in its numbered migrations.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import psycopg
import structlog

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
from jivocrm.store.postgres_claims import PostgresClaims
from jivocrm.store.postgres_db import BUNDLES_LOCK, LOCK_NAMESPACE, Conn, Database, Q, migrate
from jivocrm.store.postgres_limits import PostgresRateLimiter
from jivocrm.store.postgres_tokens import PostgresTokenStore
from jivocrm.store.statements import (
    StatementWrites,
    count_from_row,
    event_from_row,
    refusal_from_row,
    refusal_params,
    run_from_row,
    step_from_row,
    version_from_row,
    version_params,
)

if TYPE_CHECKING:
    from psycopg.rows import DictRow


log = structlog.get_logger("jivocrm.store")

# How often a claim is tried again after losing a lane head to another instance. Each retry reads
# a newer snapshot in which the winner's run is visible, so one retry nearly always suffices.
CLAIM_ATTEMPTS = 5
REFUSALS_KEPT = 1000
LOCK_KEY = {"namespace": LOCK_NAMESPACE, "key": BUNDLES_LOCK}


async def _bundles_lock(conn: Conn, *, shared: bool) -> None:
    await conn.execute(Q["bundles_lock_shared" if shared else "bundles_lock"], LOCK_KEY)


class PostgresStore(StatementWrites):
    """The store at a ``postgresql://`` URL. ``?pool_max_size=N`` sizes the connection pool
    (default 10: the workers, intake and the shared limiters of one instance)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.db = Database(url)
        self.auto_migrate = migrate
        self._tokens: PostgresTokenStore | None = None
        self._instance = uuid.uuid4().hex  # names this instance's person claims

    async def open(self) -> None:
        await self.db.open()
        if not self.auto_migrate:
            return
        async with self.db.connection() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("store_migrated", url=self.db.shown_url, applied=applied)

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(Q["probe_write"])
            await conn.execute(Q["probe_delete"])

    # ---- shared connection state -------------------------------------------------------------
    def rate_limiter(self, name: str, *, interval: float, burst: int = 1) -> PostgresRateLimiter:
        """A limiter whose bucket is one row of ``rate_limits``, shared by every instance."""
        return PostgresRateLimiter(self.db, name, interval=interval, burst=burst)

    def person_claims(self, connection: str) -> PostgresClaims:
        """Claims on the people a connection's runs are creating, shared by every instance."""
        return PostgresClaims(self.db, connection, instance=self._instance)

    def token_store(self) -> PostgresTokenStore:
        """OAuth token pairs in the database, refreshed under a cross-instance lock."""
        if self._tokens is None:
            self._tokens = PostgresTokenStore(self.db)
        return self._tokens

    # ---- intake ------------------------------------------------------------------------------
    async def accept(self, event: NewEvent) -> Accepted:
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
        async with self.db.transaction() as conn:
            row = await (await conn.execute(Q["insert_event"], fields)).fetchone()
            if row is None:
                # A redelivery: ON CONFLICT waited for the first delivery's commit, so its row
                # and runs are visible to this next statement.
                found = await (await conn.execute(Q["event_by_key"], fields)).fetchone()
                assert found is not None
                cur = await conn.execute(Q["run_ids_of_event"], {"event_id": found["id"]})
                ids = tuple(r["id"] for r in await cur.fetchall())
                return Accepted(found["id"], ids, duplicate=True)
            event_id = row["id"]
            run_ids, paused = [], []
            if event.runs or event.versions:
                await _bundles_lock(conn, shared=True)
            for version in event.versions:
                await conn.execute(Q["insert_version"], version_params(version, event.received_at))
            for run in event.runs:
                params = {
                    "event_id": event_id,
                    "bundle": run.bundle,
                    "lane": run.lane,
                    "status": "paused" if run.paused else "queued",
                    "now": event.received_at,
                    "version_hash": run.version_hash,
                }
                created = await (await conn.execute(Q["insert_run"], params)).fetchone()
                assert created is not None
                run_ids.append(created["id"])
                if created["status"] == "paused":
                    paused.append(created["id"])
            for bundle, reason in event.not_matched:
                await conn.execute(
                    Q["insert_not_matched"],
                    {"event_id": event_id, "bundle": bundle, "reason": reason},
                )
        return Accepted(event_id, tuple(run_ids), paused=tuple(paused))

    async def reject(self, channel: str, reason: str, body: bytes, received_at: float) -> None:
        refusal = Refusal(channel, 403, reason, received_at, body)
        count = RefusalCount(channel, 403, 1, received_at, received_at)
        await self.record_refusals([refusal], [count], keep=REFUSALS_KEPT)

    async def record_refusals(
        self, detailed: Sequence[Refusal], counts: Sequence[RefusalCount], *, keep: int
    ) -> None:
        async with self.db.transaction() as conn:
            for refusal in detailed:
                await conn.execute(Q["insert_rejection"], refusal_params(refusal))
            # Sorted: two instances adding to the same counts lock the rows in one order.
            for count in sorted(counts, key=lambda c: (c.channel, c.status, c.remote)):
                await conn.execute(Q["count_refusals"], asdict(count))
            if detailed:
                await conn.execute(Q["cap_rejections"], {"keep": keep})
            if any(c.remote for c in counts):
                await conn.execute(Q["cap_remotes"], {"keep": keep})

    async def refusals(
        self, *, channel: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Rejection]:
        params = {"channel": channel, "limit": limit, "offset": offset}
        return [refusal_from_row(r) for r in await self.db.fetchall("refusals", params)]

    async def get_refusal(self, refusal_id: int) -> Rejection | None:
        row = await self.db.fetchone("get_refusal", {"id": refusal_id})
        return refusal_from_row(row) if row else None

    async def refusal_counts(self) -> list[RefusalCount]:
        return [count_from_row(r) for r in await self.db.fetchall("refusal_counts")]

    async def last_refusals(self) -> dict[str, Rejection]:
        rows = await self.db.fetchall("last_refusals")
        return {r["channel"]: refusal_from_row(r) for r in rows}

    # ---- queue -------------------------------------------------------------------------------
    async def claim(self, owner: str, *, now: float, lease: float, limit: int = 1) -> list[Run]:
        params = {"owner": owner, "now": now, "until": now + lease, "limit": limit}
        for _ in range(CLAIM_ATTEMPTS):
            try:
                rows = await self.db.fetchall("claim", params)
            except psycopg.errors.UniqueViolation:
                # Another instance made one of our lane heads running after our snapshot was
                # taken; nothing of this claim was written. Claim again against the new state.
                log.debug("claim_lane_conflict", owner=owner)
                continue
            except psycopg.errors.DeadlockDetected:
                # Two claims each waiting on the other's lane entry: PostgreSQL aborted this
                # one, with nothing written. Same remedy.
                log.debug("claim_deadlock", owner=owner)
                continue
            return sorted((run_from_row(r) for r in rows), key=lambda r: r.id)
        return []

    async def _update(self, name: str, params: dict[str, Any]) -> int:
        params.setdefault("now", time.time())
        return await self.db.execute(name, params)

    async def _updates(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
        now, changed = time.time(), []
        async with self.db.transaction() as conn:
            for name, params in items:
                params.setdefault("now", now)
                changed.append((await conn.execute(Q[name], params)).rowcount)
        return changed

    @staticmethod
    def _ids(values: Sequence[Any]) -> Any:
        return list(values)

    # ---- runtime holds -----------------------------------------------------------------------
    async def hold_bundle(self, bundle: str, *, by: str, reason: str = "", at: float) -> int:
        params = {"bundle": bundle, "by": by, "reason": reason, "at": at, "now": at}
        async with self.db.transaction() as conn:
            await _bundles_lock(conn, shared=False)
            await conn.execute(Q["hold_bundle"], params)
            return (await conn.execute(Q["pause_one"], params)).rowcount

    async def release_bundle(self, bundle: str, *, requeue: bool) -> int:
        params = {"bundle": bundle, "now": time.time()}
        async with self.db.transaction() as conn:
            await _bundles_lock(conn, shared=False)
            await conn.execute(Q["release_bundle"], params)
            return (await conn.execute(Q["resume_one"], params)).rowcount if requeue else 0

    async def holds(self) -> list[BundleHold]:
        return [
            BundleHold(r["bundle"], r["held_at"], r["held_by"], r["reason"])
            for r in await self.db.fetchall("holds")
        ]

    # ---- bundle versions ---------------------------------------------------------------------
    async def keep_versions(self, versions: Sequence[BundleVersion]) -> None:
        if not versions:
            return
        now = time.time()
        async with self.db.transaction() as conn:
            await _bundles_lock(conn, shared=True)
            for version in versions:
                await conn.execute(Q["insert_version"], version_params(version, now))

    async def bundle_version(self, version_hash: str) -> BundleVersion | None:
        row = await self.db.fetchone("get_version", {"hash": version_hash})
        return version_from_row(row) if row else None

    async def running_owners(self) -> list[str]:
        return [r["lease_owner"] for r in await self.db.fetchall("running_owners")]

    # ---- journal -----------------------------------------------------------------------------
    async def steps(self, run_id: int) -> list[StepRow]:
        return [
            step_from_row(r) for r in await self.db.fetchall("steps_of_run", {"run_id": run_id})
        ]

    async def get_run(self, run_id: int) -> Run | None:
        row = await self.db.fetchone("get_run", {"id": run_id})
        return run_from_row(row) if row else None

    async def get_runs(self, run_ids: Sequence[int]) -> list[Run]:
        return [run_from_row(r) for r in await self.db.fetchall("get_runs", {"ids": list(run_ids)})]

    async def get_event(self, event_id: int) -> Event | None:
        row = await self.db.fetchone("get_event", {"id": event_id})
        return event_from_row(row) if row else None

    async def not_matched(self, event_id: int) -> list[tuple[str, str]]:
        rows = await self.db.fetchall("not_matched_of_event", {"event_id": event_id})
        return [(r["bundle"], r["reason"]) for r in rows]

    async def event_detail(self, event_id: int) -> EventDetail | None:
        event = await self.get_event(event_id)
        if event is None:
            return None
        runs = [
            run_from_row(r) for r in await self.db.fetchall("runs_of_event", {"event_id": event_id})
        ]
        steps = {run.id: await self.steps(run.id) for run in runs}
        return EventDetail(event, runs, await self.not_matched(event_id), steps)

    async def list_runs(self, flt: RunFilter) -> list[Run]:
        return [run_from_row(r) for r in await self.db.fetchall("list_runs", asdict(flt))]

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
        return [event_from_row(r) for r in await self.db.fetchall("list_events", params)]

    async def rejections(self, limit: int = 100) -> list[Rejection]:
        return await self.refusals(limit=limit)

    async def last_event_at(self) -> dict[str, float]:
        return {r["channel"]: r["at"] for r in await self.db.fetchall("last_event_at")}

    async def replay(
        self,
        run_id: int,
        *,
        from_start: bool,
        version_hash: str,
        version: BundleVersion | None = None,
        pinned: bool = False,
    ) -> int:
        async with self.db.transaction() as conn:
            now = time.time()
            await _bundles_lock(conn, shared=True)
            if version is not None:
                await conn.execute(Q["insert_version"], version_params(version, now))
            params = {"id": run_id, "now": now, "version_hash": version_hash, "pinned": pinned}
            row = await (await conn.execute(Q["replay_run"], params)).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id}")
            if not from_start:
                await conn.execute(Q["copy_finished_steps"], {"id": run_id, "new_id": row["id"]})
            return int(row["id"])

    async def prune(self, *, older_than: float | None, keep: int | None) -> int:
        deleted = 0
        async with self.db.transaction() as conn:
            if older_than is not None:
                cur = await conn.execute(Q["prune_older"], {"cutoff": older_than})
                deleted += cur.rowcount
                await conn.execute(Q["prune_rejections"], {"cutoff": older_than})
                await conn.execute(Q["prune_refusal_counts"], {"cutoff": older_than})
            if keep is not None:
                deleted += (await conn.execute(Q["prune_beyond"], {"keep": keep})).rowcount
            await _bundles_lock(conn, shared=False)
            await conn.execute(Q["prune_versions"])
        if deleted:
            # Plain VACUUM (outside a transaction: the connection is autocommit) makes the space
            # reusable for new rows without locking the tables the other instances are writing;
            # VACUUM FULL would shrink the files but lock every instance out while it copies.
            async with self.db.connection() as conn:
                await conn.execute(
                    b"VACUUM (ANALYZE) events, runs, steps, not_matched, rejections,"
                    b" bundle_versions"
                )
        return deleted

    async def stats(self, *, now: float) -> StoreStats:
        rows = await self.db.fetchall("stats_runs")
        runs = {(r["bundle"], r["status"]): int(r["n"]) for r in rows}
        queue = await self.db.fetchone("stats_queue", {"now": now})
        held = await self.db.fetchone("stats_lane_hold")
        assert queue is not None
        assert held is not None
        return StoreStats(runs, int(queue["n"]), queue["oldest"], held["started"])

    async def counts(self) -> DictRow:
        """Rows per table and the database size: what ``jivocrm store check`` prints."""
        row = await self.db.fetchone("counts")
        assert row is not None
        return row


__all__ = ["PostgresStore"]
