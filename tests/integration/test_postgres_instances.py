"""Several store instances (each its own pool, as several daemons have) on one PostgreSQL
database: claims, lanes, leases and migrations across instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from jivocrm.core.errors import StoreError
from jivocrm.store.postgres import PostgresStore
from jivocrm.store.postgres_db import redact_url, split_url
from jivocrm.store.queries import migrations
from jivocrm.testing.store_contract import (
    LEASE,
    T0,
    claim_ids,
    pg_dsn,
    run_in,
    scratch_database,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with scratch_database(pg_dsn()) as scratch:
        yield scratch


@pytest.fixture
async def stores(url: str) -> AsyncIterator[list[PostgresStore]]:
    opened = [PostgresStore(url) for _ in range(3)]
    for store in opened:
        await store.open()
    yield opened
    for store in opened:
        await store.close()


async def test_instances_claiming_together_keep_every_lane_exclusive_and_in_order(
    stores: list[PostgresStore],
) -> None:
    lanes = {
        f"chat:{n}": [await run_in(stores[0], f"chat:{n}") for _ in range(8)] for n in range(12)
    }
    running: set[str] = set()
    overlaps = 0
    order: dict[str, list[int]] = {lane: [] for lane in lanes}

    async def worker(store: PostgresStore, owner: str) -> None:
        nonlocal overlaps
        while sum(map(len, order.values())) < 96:
            for run in await store.claim(owner, now=T0, lease=LEASE, limit=3):
                overlaps += run.lane in running
                running.add(run.lane)
                order[run.lane].append(run.id)
                await asyncio.sleep(0.001)  # "work": lets the other instances claim meanwhile
                running.discard(run.lane)
                assert await store.finish_run(run.id, owner, status="succeeded", ran_hash="v1")
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(s, f"i{n}-w{k}") for n, s in enumerate(stores) for k in range(3)))
    assert (overlaps, order) == (0, lanes)


async def test_the_database_refuses_a_second_running_run_in_a_lane(
    stores: list[PostgresStore], url: str
) -> None:
    await run_in(stores[0], "A")
    second = await run_in(stores[0], "A")
    await claim_ids(stores[0])
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            await conn.execute(b"UPDATE runs SET status = 'running' WHERE id = %s", (second,))


async def test_a_resumed_earlier_run_waits_for_the_running_one(
    stores: list[PostgresStore],
) -> None:
    first = await run_in(stores[0], "A", bundle="paused-later")
    second = await run_in(stores[0], "A", bundle="other")
    await stores[0].set_paused(["paused-later"], paused=True)
    assert await claim_ids(stores[0]) == [second]
    await stores[1].set_paused(["paused-later"], paused=False)
    assert await claim_ids(stores[1], owner="w2") == []
    await stores[0].finish_run(second, "w1", status="succeeded", ran_hash="v1")
    assert await claim_ids(stores[1], owner="w2") == [first]


async def test_the_runs_of_a_dead_instance_go_to_another_after_the_lease(
    stores: list[PostgresStore],
) -> None:
    dead, alive = stores[0], stores[1]
    a1 = await run_in(dead, "A")
    await claim_ids(dead, owner="dead", lease=5)
    await dead.close()  # its process is gone: no heartbeat, no release
    assert await alive.requeue_expired(now=T0 + 4) == 0
    assert await alive.requeue_expired(now=T0 + 6) == 1
    assert await claim_ids(alive, now=T0 + 6, owner="alive") == [a1]


async def test_a_heartbeat_from_one_instance_is_seen_by_the_others(
    stores: list[PostgresStore],
) -> None:
    a1 = await run_in(stores[0], "A")
    await claim_ids(stores[0], owner="w1", lease=5)
    await stores[0].heartbeat("w1", [a1], until=T0 + 60)
    assert await stores[2].requeue_expired(now=T0 + 30) == 0


async def test_instances_starting_together_apply_each_migration_once(url: str) -> None:
    starting = [PostgresStore(url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in starting))
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(b"SELECT version FROM schema_migrations ORDER BY version")
        versions = [row[0] for row in await cur.fetchall()]
    for store in starting:
        await store.close()
    assert versions == [m.version for m in migrations("postgres")]


async def test_a_store_that_cannot_connect_says_where_without_the_password() -> None:
    store = PostgresStore("postgresql://jivo:s3cret@127.0.0.1:1/nowhere?pool_timeout=1")
    with pytest.raises(StoreError) as caught:
        await store.open()
    assert ("127.0.0.1:1" in str(caught.value), "s3cret" in str(caught.value)) == (True, False)


def test_pool_options_are_taken_out_of_the_url() -> None:
    assert split_url("postgres://u@h/db?pool_max_size=20&sslmode=require") == (
        "postgresql://u@h/db?sslmode=require",
        {"pool_max_size": 20.0},
    )


def test_a_password_is_redacted_from_the_url() -> None:
    assert redact_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"


SHARED_TABLES = ("events", "not_matched", "runs", "steps", "rejections")


async def test_the_postgresql_schema_mirrors_the_sqlite_schema(url: str, tmp_path: object) -> None:
    import sqlite3

    from jivocrm.store.sqlite_db import migrate as sqlite_migrate

    lite = sqlite3.connect(":memory:", isolation_level=None)
    sqlite_migrate(lite)
    sqlite_columns = {
        t: sorted(r[1] for r in lite.execute(f"PRAGMA table_info({t})")) for t in SHARED_TABLES
    }
    store = PostgresStore(url)
    await store.open()
    await store.close()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            b"SELECT table_name, column_name FROM information_schema.columns "
            b"WHERE table_schema = 'public' AND column_name <> 'seq'"
        )
        pg_columns: dict[str, list[str]] = {}
        for table, column in await cur.fetchall():
            pg_columns.setdefault(table, []).append(column)
    assert {t: sorted(pg_columns[t]) for t in SHARED_TABLES} == sqlite_columns


async def test_a_claim_racing_another_instance_for_a_lane_takes_nothing_there(
    stores: list[PostgresStore], url: str
) -> None:
    first = await run_in(stores[0], "A", bundle="held")
    second = await run_in(stores[0], "A")
    await stores[0].set_paused(["held"], paused=True)
    async with await psycopg.AsyncConnection.connect(url) as other:
        # Another instance makes the earlier run of the lane running, not yet committed: our
        # claim's snapshot still sees it paused and takes `second` as the lane's head.
        await other.execute(b"UPDATE runs SET status = 'running' WHERE id = %s", (first,))
        claiming = asyncio.create_task(claim_ids(stores[1], owner="w2"))
        await asyncio.sleep(0.3)  # the claim now waits on the lane's unique index entry
        await other.commit()
        claimed = await claiming
    run = await stores[1].get_run(second)
    assert (claimed, run.status if run else None) == ([], "queued")
