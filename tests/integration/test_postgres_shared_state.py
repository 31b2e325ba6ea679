"""Rate limits, OAuth tokens and runtime holds shared by several store instances through
PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from jivocrm.connectors import CONNECTORS
from jivocrm.connectors.spec import SHARED_WINDOW
from jivocrm.store.postgres import PostgresStore
from jivocrm.store.postgres_claims import PostgresClaims
from jivocrm.store.postgres_limits import PostgresRateLimiter, Reservation
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


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# The tests below read the slots the database handed out (its own clock), not the moments the
# callers woke up: a busy machine can only make reservations arrive later, and a later request
# gets a later slot, never an earlier one, so what they assert holds however loaded it is.
async def reservations(limiters: list[PostgresRateLimiter], each: int) -> list[Reservation]:
    taken: list[Reservation] = []

    async def client(limiter: PostgresRateLimiter) -> None:
        for _ in range(each):
            taken.append(await limiter.reserve())

    await asyncio.gather(*(client(lim) for lim in limiters for _ in range(2)))
    return sorted(taken, key=lambda r: r.slot)


async def test_three_instances_together_stay_within_amocrms_seven_per_second(
    stores: list[PostgresStore],
) -> None:
    interval, burst = CONNECTORS["amocrm"].shared_limit(7, 1)
    limiters = [s.rate_limiter("amo", interval=interval, burst=burst) for s in stores]
    taken = await reservations(limiters, each=5)  # 3 instances × 2 callers × 5 = 30 requests
    assert max_in_window([r.slot for r in taken]) <= 7


async def test_the_shared_amocrm_limiter_holds_no_request_back_longer_than_its_interval(
    stores: list[PostgresStore],
) -> None:
    interval, burst = CONNECTORS["amocrm"].shared_limit(7, 1)
    limiters = [s.rate_limiter("amo", interval=interval, burst=burst) for s in stores]
    taken = await reservations(limiters, each=5)
    # A request that asked before its turn gets the slot right after the previous one: seven
    # per SHARED_WINDOW, the most the window allows, not fewer.
    for before, after in itertools.pairwise(taken):
        if after.wait > 0:
            assert after.slot - before.slot == pytest.approx(interval, abs=1e-6)
    assert SHARED_WINDOW / interval == pytest.approx(7)


async def test_a_bitrix24_burst_goes_at_once_then_the_bucket_drains_at_its_rate(
    stores: list[PostgresStore],
) -> None:
    limiters = [s.rate_limiter("b24", interval=0.25, burst=4) for s in stores]
    taken = [await limiters[n % 3].reserve() for n in range(6)]
    assert [r.wait <= 0 for r in taken[:4]] == [True] * 4
    assert taken[5].slot - taken[0].slot >= (6 - 4) * 0.25 - 1e-6


async def test_a_pause_asked_of_one_instance_holds_every_instance(
    stores: list[PostgresStore],
) -> None:
    told = stores[0].rate_limiter("amo", interval=0.01)
    other = stores[1].rate_limiter("amo", interval=0.01)
    await told.acquire()
    told.block_for(1.0)
    await told.flush()
    assert await other.acquire() >= 0.9


async def test_a_pause_that_begins_during_a_wait_voids_the_slot(
    stores: list[PostgresStore],
) -> None:
    slow = stores[0].rate_limiter("amo", interval=0.5)
    await slow.acquire()  # the next slot is 0.5 s away
    waiting = asyncio.create_task(stores[1].rate_limiter("amo", interval=0.5).acquire())
    await asyncio.sleep(0.1)
    slow.block_for(1.5)
    await slow.flush()
    assert await waiting >= 1.4


async def test_different_connections_have_separate_buckets(stores: list[PostgresStore]) -> None:
    busy = stores[0].rate_limiter("amo", interval=1.0)
    await busy.reserve()
    assert (await busy.reserve()).wait > 0.5
    assert (await stores[1].rate_limiter("other", interval=1.0).reserve()).wait <= 0


async def test_one_refresh_across_instances_when_a_token_expires(
    stores: list[PostgresStore],
) -> None:
    await stores[0].token_store().save("amo", {"refresh_token": "r0", "expires_at": 0})
    refreshes: list[str] = []
    inside = 0
    most_inside = 0

    async def run_needing_a_token(store: PostgresStore) -> str:
        nonlocal inside, most_inside
        tokens = store.token_store()
        async with tokens.lock("amo"):
            inside += 1
            most_inside = max(most_inside, inside)
            current = await tokens.load("amo")
            assert current is not None
            if current["expires_at"] < time.time():  # expired: this caller refreshes
                await asyncio.sleep(0.05)  # the CRM's token endpoint
                refreshes.append(current["refresh_token"])
                current = {"refresh_token": f"r{len(refreshes)}", "expires_at": time.time() + 60}
                await tokens.save("amo", current)
            inside -= 1
            return str(current["refresh_token"])

    used = await asyncio.gather(*(run_needing_a_token(s) for s in stores for _ in range(7)))
    assert (refreshes, set(used), most_inside) == (["r0"], {"r1"}, 1)


async def test_a_token_saved_by_one_instance_is_loaded_by_another(
    stores: list[PostgresStore],
) -> None:
    await stores[0].token_store().save("b24", {"access_token": "a1", "refresh_token": "r1"})
    assert await stores[2].token_store().load("b24") == {
        "access_token": "a1",
        "refresh_token": "r1",
    }


async def test_the_lock_is_released_for_the_next_borrower_of_the_connection(
    stores: list[PostgresStore],
) -> None:
    tokens = stores[0].token_store()
    async with tokens.lock("amo"):
        pass
    # Another instance gets the lock at once: the first one's session no longer holds it.
    async with asyncio.timeout(2):
        async with stores[1].token_store().lock("amo"):
            pass


# ---- runtime holds: a bundle paused through one instance is paused for all -----------------
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


async def test_a_person_claimed_on_one_instance_waits_on_another_until_released(
    stores: list[PostgresStore],
) -> None:
    first, second = stores[0].person_claims("amo"), stores[1].person_claims("amo")
    run_a, run_b = object(), object()
    assert await first.claim(run_a, ["contact:phone:+79265550102", "contact:email:a@b.ru"])
    waiting = asyncio.create_task(second.claim(run_b, ["contact:phone:+79265550102"]))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await first.release(run_a)
    assert await waiting
    assert await second.holder("contact:phone:+79265550102") == second._owner(run_b)
    assert await first.holder("contact:email:a@b.ru") is None


async def test_person_claims_are_per_connection(stores: list[PostgresStore]) -> None:
    amo, b24 = stores[0].person_claims("amo"), stores[1].person_claims("b24")
    assert await amo.claim(object(), ["contact:phone:+79265550102"])
    assert await b24.claim(object(), ["contact:phone:+79265550102"])


async def test_a_claim_of_an_instance_that_died_lapses(stores: list[PostgresStore]) -> None:
    gone = PostgresClaims(stores[0].db, "amo", lease=0.0)  # as if its lease ran out
    assert await gone.claim(object(), ["contact:phone:+79265550102"])
    later = stores[1].person_claims("amo")
    assert await later.claim(object(), ["contact:phone:+79265550102"])


async def test_a_claim_held_too_long_is_given_up_not_waited_for_forever(
    stores: list[PostgresStore],
) -> None:
    holder = stores[0].person_claims("amo")
    impatient = PostgresClaims(stores[1].db, "amo", wait=0.1)
    await holder.claim(object(), ["contact:phone:+79265550102"])
    assert await impatient.claim(object(), ["contact:phone:+79265550102"]) is False
