"""A poison run must not stall its chat: one poisoned event and 20 ordinary ones of the same chat
(one lane) against the soak project. The 20 complete within a minute, the poisoned run is listed
as failed with its reason, and nothing else is lost. Before, a run that crashed was retried on
the durable schedule, about a day, while the chat's later events waited behind it.

Two poisons: the soak bundle's note reads ``event.page.title``, so an event whose ``page`` is
a number fails that step (a data error: failed at once, replayable); and a visitor name holding a
lone surrogate, which once made every attempt fail to write the journal: it is replaced at
intake now, so that run succeeds, with U+FFFD where the half emoji was.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from soak_kit import NOTE, EmulatorProcess, event_body

from jivocrm.testing.daemon import Daemon, emulator_state, post

CHAT = 42
ORDINARY = 20
POISONS: dict[str, tuple[Callable[[dict[str, Any]], None], str | None]] = {
    "page as a number": (lambda event: event.update(page=5), "'title' is missing"),
    "lone surrogate": (lambda event: event["visitor"].update(name="Ира \ud83d"), None),
}


def poisoned(kind: str) -> bytes:
    event = json.loads(event_body(CHAT, 0))
    POISONS[kind][0](event)
    return json.dumps(event, ensure_ascii=True).encode()  # "\ud83d" as its JSON escape


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", sorted(POISONS))
async def test_a_poisoned_event_does_not_hold_up_its_chat(
    soak_daemon: Daemon, crm: EmulatorProcess, report: Callable[[str], None], kind: str
) -> None:
    await soak_daemon.start()
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        await crm.faults(session, rate_limit=0, latency=0.0)
        statuses = [(await post(session, soak_daemon.webhook, poisoned(kind)))[0]]
        for seq in range(1, ORDINARY + 1):
            statuses.append((await post(session, soak_daemon.webhook, event_body(CHAT, seq)))[0])
        assert statuses == [200] * (ORDINARY + 1)
        while time.monotonic() - started < 60:
            runs = soak_daemon.db("SELECT id, status, attempt, error FROM runs ORDER BY id")
            if len(runs) == ORDINARY + 1 and all(r[1] in ("succeeded", "failed") for r in runs):
                break
            await asyncio.sleep(0.1)
        took = time.monotonic() - started
        state = await emulator_state(crm.url)
    first, *rest = runs
    assert [r[1] for r in rest] == ["succeeded"] * ORDINARY, runs
    assert took < 60
    reason = POISONS[kind][1]
    if reason is None:
        assert first[1:3] == ("succeeded", 1)
        [contact] = [c for c in state["contacts"] if c["name"].startswith("Ира")]
        assert contact["name"] == "Ира \ufffd"
    else:
        assert first[1:3] == ("failed", 1), first
        assert reason in first[3]
        listed = soak_daemon.db("SELECT id FROM runs WHERE status = 'failed'")
        assert listed == [(first[0],)]
    seqs = sorted(int(m.group(2)) for n in state["notes"] if (m := NOTE.search(json.dumps(n))))
    expected = list(range(0 if reason is None else 1, ORDINARY + 1))
    assert seqs == expected  # every ordinary event's note, once; nothing else lost
    report(f"poison run ({kind}): {ORDINARY} ordinary runs of the chat done in {took:.1f} s")
    assert await soak_daemon.stop() == 0
