"""SIGKILL at random moments while events stream in and runs execute: the emulator ends with
exactly one contact and one deal per chat, exactly one note for every acknowledged event (a note
step resumed after a kill finds the note it wrote), in chat order.

The fast case (300 events, 3 kills) is part of ``make test``; the soak (10,000 events, repeated
kills) of ``make soak``. Both print the checker's figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

import aiohttp
import pytest
from soak_kit import (
    EmulatorProcess,
    Ledger,
    Nemesis,
    Verdict,
    check,
    send_chat,
    write_project,
)

from jivocrm.testing.daemon import Daemon


async def soak(
    daemon: Daemon,
    crm: EmulatorProcess,
    *,
    chats: int,
    per_chat: int,
    kills: int,
    gap: tuple[float, float],
    budget: float,
    report: Callable[[str], None],
    seed: int,
    pace: float,
    latency: float = 0.002,
) -> Verdict:
    """Send ``chats`` × ``per_chat`` events while the nemesis kills the daemon ``kills`` times;
    wait for every run to settle; return the checker's verdict."""
    started = time.monotonic()
    deadline = started + budget
    await daemon.start()
    ledger = Ledger()
    nemesis = Nemesis(daemon, random.Random(seed), gap=gap)
    stop = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await crm.faults(session, rate_limit=0, latency=latency)
        chaos = asyncio.create_task(nemesis.run(stop, kills))
        senders = [
            send_chat(session, daemon, chat, range(per_chat), ledger, deadline=deadline, pace=pace)
            for chat in range(chats)
        ]
        await asyncio.gather(*senders)
        # The queue drains after the last event is in: the remaining kills land meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(chaos), max(0.0, deadline - time.monotonic()))
        stop.set()
        await chaos
        if daemon.proc is None or daemon.proc.poll() is not None:
            await daemon.start()
        left = max(1.0, deadline - time.monotonic())
        await daemon.settled(chats * per_chat, polls=int(left / 0.1))
        state = await crm.state(session)
    verdict = check(ledger, state, kills=nemesis.kills)
    verdict.seconds = time.monotonic() - started
    verdict.extra = {
        "running_at_kill": nemesis.running_at_kill,
        "refused_posts": ledger.refused,
        "runs": daemon.run_counts(),
    }
    report(f"sigkill soak: {verdict.summary()}")
    assert await daemon.stop() == 0
    return verdict


def assert_exact(verdict: Verdict, chats: int, per_chat: int, kills: int) -> None:
    assert verdict.kills == kills
    assert (verdict.events, verdict.lost, verdict.unexpected) == (chats * per_chat, 0, 0)
    assert (verdict.contacts, verdict.deals, verdict.duplicated) == (chats, chats, 0)
    assert verdict.order_violations == 0
    assert verdict.redone == 0  # no note written twice
    assert verdict.extra["runs"] == {"succeeded": chats * per_chat}


@pytest.mark.timeout(120)
async def test_three_kills_during_300_events(
    soak_daemon: Daemon, crm: EmulatorProcess, report: Callable[[str], None]
) -> None:
    chats, per_chat, kills = 30, 10, 3
    verdict = await soak(
        soak_daemon,
        crm,
        chats=chats,
        per_chat=per_chat,
        kills=kills,
        gap=(0.8, 2.5),
        budget=100,
        report=report,
        seed=8,
        pace=0.3,
    )
    assert_exact(verdict, chats, per_chat, kills)
    assert verdict.extra["running_at_kill"] > 0  # at least one kill landed mid-run


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_repeated_kills_during_10000_events(
    soak_daemon: Daemon, crm: EmulatorProcess, report: Callable[[str], None]
) -> None:
    chats, per_chat, kills = 100, 100, 15
    # More workers than the fast case: 100 lanes, and the CRM answers without added latency.
    write_project(soak_daemon.root, crm.url, workers=16)
    verdict = await soak(
        soak_daemon,
        crm,
        chats=chats,
        per_chat=per_chat,
        kills=kills,
        gap=(3.0, 12.0),
        budget=1500,
        report=report,
        seed=10_000,
        pace=0.02,
        latency=0.0,
    )
    assert_exact(verdict, chats, per_chat, kills)
    assert verdict.extra["running_at_kill"] > 0
