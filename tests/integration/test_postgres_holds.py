"""A runtime hold on PostgreSQL is every instance's: a bundle paused through one store instance
gets its runs paused when another instance accepts events for it, even while they race."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from jivocrm.store.postgres import PostgresStore
from jivocrm.testing.store_contract import T0, event, pg_dsn, scratch_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def stores() -> AsyncIterator[list[PostgresStore]]:
    async with scratch_database(pg_dsn()) as url:
        opened = [PostgresStore(url) for _ in range(3)]
        for store in opened:
            await store.open()
        yield opened
        for store in opened:
            await store.close()


async def test_a_hold_set_on_one_instance_pauses_the_runs_another_accepts(
    stores: list[PostgresStore],
) -> None:
    ops, intake, _ = stores
    await ops.hold_bundle("b", by="ops", at=T0)
    accepted = await intake.accept(event("{}", "chat:1"))
    assert accepted.paused == accepted.run_ids


async def test_no_run_slips_past_a_hold_while_instances_accept(
    stores: list[PostgresStore],
) -> None:
    ops, first, second = stores

    async def accept_many(store: PostgresStore) -> None:
        for _ in range(40):
            await store.accept(event(secrets.token_hex(8), f"chat:{secrets.token_hex(2)}"))

    flood = [asyncio.create_task(accept_many(s)) for s in (first, second)]
    await asyncio.sleep(0.05)
    await ops.hold_bundle("b", by="ops", at=T0)
    await asyncio.gather(*flood)
    stats = await ops.stats(now=T0 + 10**9)
    # Runs created before the hold were queued and then paused by it; none after it was queued.
    assert set(stats.runs) == {("b", "paused")}
    assert stats.runs[("b", "paused")] == 80
    assert await ops.release_bundle("b", requeue=True) == 80
