"""The connection's leaky bucket gets calls through a portal's bucket, and storms of 503/429/500
are ridden out. Rates are scaled up (20/s, burst 5) so a few hundred calls take
seconds, and the emulator's bucket is the same size as the one configured on the connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from jivocrm.connectors.bitrix24.contract_target import connect, webhook_config
from jivocrm.connectors.bitrix24.emulator import RunningEmulator, running_emulator
from jivocrm.core.errors import RetriableError

RATE, BURST = 20.0, 5
# The portal's bucket a little larger than the connection's, as on a real portal (50 there):
# the margin absorbs arrivals bunched by a stall of the event loop both sides share.
PORTAL_BURST = BURST + 3
CALLS = 300


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    portal = {"rate": RATE, "burst": PORTAL_BURST}
    async with running_emulator(faults={"rate_limit": portal}) as running:
        yield running


@pytest.mark.timeout(60)
async def test_the_limiter_gets_every_call_through_the_portal_bucket(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    # The exact bounds of the bucket are tested on a virtual clock (tests/unit/test_ratelimit.py);
    # here the portal's own bucket judges: every call of a burst far past its size gets through.
    config = webhook_config(
        emulator, rate_limit={"rate": RATE, "burst": BURST}, retries={"attempts": 3}
    )
    rest = connect(emulator, session, config).rest
    results = await asyncio.gather(*(rest.result("profile") for _ in range(CALLS)))
    assert len(results) == CALLS
    answers = emulator.calls("profile")
    assert sum(a["status"] == 200 for a in answers) == CALLS


async def test_without_the_limiter_the_portal_answers_503(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    # The control for the test above: the emulator's bucket does refuse a burst past its size.
    config = webhook_config(
        emulator, rate_limit={"rate": 1000, "burst": 1000}, retries={"attempts": 1}
    )
    rest = connect(emulator, session, config).rest
    outcomes = await asyncio.gather(
        *(rest.result("profile") for _ in range(PORTAL_BURST * 4)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, RetriableError)]
    assert refused
    assert all(o.code == "QUERY_LIMIT_EXCEEDED" for o in refused)
    assert len(outcomes) - len(refused) <= PORTAL_BURST + 1


@pytest.mark.parametrize("fault", ["rate_503", "rate_429", "error_rate"])
async def test_a_storm_is_ridden_out(
    emulator: RunningEmulator, session: aiohttp.ClientSession, fault: str
) -> None:
    emulator.configure(rate_limit={"rate": 0}, **{fault: 1.0})
    config = webhook_config(
        emulator,
        rate_limit={"rate": 1000, "burst": 1000},
        retries={"attempts": 40, "initial": 0.01, "max_delay": 0.05},
    )
    connector = connect(emulator, session, config)

    async def calm_after_storm() -> None:
        # The storm lasts until a dozen requests have been refused, then the portal recovers.
        # The request log is a plain list with no event to wait on, so it is polled.
        while len([r for r in emulator.state.requests if r["status"] != 200]) < 12:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        emulator.configure(**{fault: 0.0})

    calming = asyncio.create_task(calm_after_storm())
    users = await asyncio.gather(*(connector.list_users() for _ in range(4)))
    await calming
    assert all(len(found) == 3 for found in users)
    assert len([r for r in emulator.state.requests if r["status"] != 200]) >= 12
