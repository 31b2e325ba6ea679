"""The connection's limiter keeps amoCRM under 7 requests/s, and storms of 429/5xx are ridden out.

The exact window counts are tested on a virtual clock (tests/unit/test_ratelimit.py); here the
emulator's own limit is the judge, and no test counts requests in a wall-clock window.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from jivocrm.connectors.amocrm.contract_target import connect
from jivocrm.connectors.amocrm.emulator import running_emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def statuses(requests: list[dict[str, Any]]) -> list[int]:
    return [r["status"] for r in requests]


async def test_the_limiter_gets_a_burst_through_amocrms_own_limit(
    session: aiohttp.ClientSession,
) -> None:
    # The account's own 7 requests/s judges (the window's exact counts are tested on a virtual
    # clock in tests/unit/test_ratelimit.py): 60 calls at once all get their answer.
    async with running_emulator() as emu:
        amo = connect(emu, session, retries={"attempts": 3})
        calls = 60
        found = await asyncio.gather(
            *(amo.find_contacts(emails=[f"u{n}@x.ru"]) for n in range(calls))
        )
        answered = statuses(emu.state.requests)
    assert found == [[]] * calls
    assert answered.count(204) == calls


async def test_rate_limit_storm_from_the_account_is_ridden_out(
    session: aiohttp.ClientSession,
) -> None:
    # A limiter set too generously: amoCRM's own 7 req/s answers 429 with retry_after, and the
    # transport waits as told (the whole connection pauses) and retries until everything is in.
    async with running_emulator() as emu:
        amo = connect(emu, session, rate_limit={"rate": 1000}, retries={"attempts": 8})
        found = await asyncio.gather(*(amo.find_contacts(emails=[f"u{n}@x.ru"]) for n in range(20)))
        answered = statuses(emu.state.requests)
    assert found == [[]] * 20
    assert 429 in answered
    assert answered.count(204) == 20


async def test_429_and_5xx_storm_is_ridden_out(session: aiohttp.ClientSession) -> None:
    async with running_emulator(
        rate_limit=0, error_rate=0.3, rate_429=0.3, retry_after=0.05, random_seed=7
    ) as emu:
        amo = connect(
            emu,
            session,
            rate_limit={"rate": 1000},
            retries={"attempts": 12, "initial": 0.01, "max_delay": 0.1},
        )
        for n in range(25):
            (contact,) = await amo.find_contacts(phones=["+79161234567"])
            assert contact.id == "31415926", n
        answered = statuses(emu.state.requests)
    assert answered.count(200) == 25
    assert 429 in answered
    assert 500 in answered


async def test_timeouts_and_drops_are_retried(session: aiohttp.ClientSession) -> None:
    async with running_emulator(
        rate_limit=0, timeout_rate=0.2, drop_rate=0.2, hang=2, random_seed=3
    ) as emu:
        amo = connect(
            emu,
            session,
            timeout=0.3,
            rate_limit={"rate": 1000},
            retries={"attempts": 12, "initial": 0.01, "max_delay": 0.05},
        )
        users = [await amo.list_users() for _ in range(10)]
        answered = statuses(emu.state.requests)
    assert all(len(u) == 3 for u in users)
    assert answered.count(None) > 0  # requests the client gave up on or that were dropped


async def test_faults_can_change_at_run_time(session: aiohttp.ClientSession) -> None:
    async with running_emulator(rate_limit=0) as emu:
        amo = connect(emu, session, rate_limit={"rate": 1000}, retries={"attempts": 1})
        async with session.post(f"{emu.url}/_emulator/faults", json={"error_rate": 1.0}) as r:
            assert r.status == 200
        with pytest.raises(Exception, match="server error"):
            await amo.list_users()
        async with session.post(f"{emu.url}/_emulator/faults", json={"error_rate": 0}) as r:
            assert r.status == 200
        assert len(await amo.list_users()) == 3
        async with session.post(f"{emu.url}/_emulator/faults", json={"nonsense": 1}) as r:
            assert r.status == 400
