"""A CRM outage under a steady stream of events: the emulator answers 503 (and drops some
connections) for a while. Intake keeps answering 200, the queue grows during the outage and
drains after it; no event is lost, no contact or deal is duplicated, each chat's runs complete
in the chat's order.

The short case (~10 s outage) is part of ``make test``; the long one (3 minutes) of ``make soak``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest
from soak_kit import (
    EmulatorProcess,
    Ledger,
    Retry,
    Verdict,
    check,
    send_chat,
    write_project,
)

from jivocrm.testing.daemon import Daemon


async def outage(
    daemon: Daemon,
    crm: EmulatorProcess,
    *,
    chats: int,
    before: float,
    down: float,
    pace: float,
    budget: float,
    report: Callable[[str], None],
) -> Verdict:
    """Steady load (each chat one event every ``pace`` s); the CRM is down from ``before`` s
    for ``down`` s; the load stops when the CRM is back. Returns the checker's verdict."""
    started = time.monotonic()
    deadline = started + budget
    await daemon.start()
    ledger = Ledger()
    queue: list[int] = []
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await crm.faults(session, rate_limit=0)
        per_chat = int((before + down) / pace)
        senders = asyncio.gather(
            *(
                send_chat(session, daemon, c, range(per_chat), ledger, deadline=deadline, pace=pace)
                for c in range(chats)
            )
        )
        await asyncio.sleep(before)
        await crm.faults(session, status=503, drop_rate=0.2)
        requests_at_start = len((await crm.state(session))["requests"])
        for _ in range(int(down / 0.5)):
            queue.append(daemon.run_counts().get("queued", 0))
            await asyncio.sleep(0.5)
        outage_requests = len((await crm.state(session))["requests"]) - requests_at_start
        await crm.faults(session, status=0, drop_rate=0)
        await senders
        peak = max(queue)
        left = max(1.0, deadline - time.monotonic())
        await daemon.settled(chats * per_chat, polls=int(left / 0.1))
        state = await crm.state(session)
    verdict = check(ledger, state)
    verdict.seconds = time.monotonic() - started
    verdict.extra = {
        "outage_s": down,
        "queue_start": queue[0],
        "queue_peak": peak,
        "calls_during_outage": outage_requests,
        "statuses": dict(ledger.statuses),
        "runs": daemon.run_counts(),
    }
    report(f"crm outage: {verdict.summary()}")
    assert await daemon.stop() == 0
    return verdict


def assert_drained(verdict: Verdict, chats: int) -> None:
    assert verdict.extra["statuses"] == {200: verdict.events}  # intake never refused an event
    assert verdict.extra["queue_peak"] > verdict.extra["queue_start"]  # the queue grew …
    assert verdict.extra["runs"] == {"succeeded": verdict.events}  # … and drained
    assert verdict.extra["calls_during_outage"] > 0  # the daemon kept trying
    assert (verdict.lost, verdict.unexpected, verdict.redone) == (0, 0, 0)
    assert (verdict.contacts, verdict.deals, verdict.duplicated) == (chats, chats, 0)
    assert verdict.order_violations == 0


@pytest.mark.timeout(120)
async def test_a_short_outage(
    soak_daemon: Daemon, crm: EmulatorProcess, report: Callable[[str], None]
) -> None:
    chats = 10
    verdict = await outage(
        soak_daemon, crm, chats=chats, before=3, down=10, pace=0.5, budget=90, report=report
    )
    assert_drained(verdict, chats)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_three_minute_outage(
    soak_daemon: Daemon, crm: EmulatorProcess, report: Callable[[str], None]
) -> None:
    chats = 20
    # Every lane's head is retried at most every 2 s: 180 s of outage needs more than the
    # 50 attempts of the short case (each attempt also retries in the call), or the heads give
    # up (a failed run, by design); 100 is the most a project may ask for.
    write_project(soak_daemon.root, crm.url, retry=Retry(attempts=100))
    verdict = await outage(
        soak_daemon, crm, chats=chats, before=10, down=180, pace=1.0, budget=540, report=report
    )
    assert_drained(verdict, chats)
