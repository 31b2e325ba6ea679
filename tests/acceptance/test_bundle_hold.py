"""Pause and resume without a commit: ``jivocrm bundles pause`` holds a bundle's events durably
(across a restart of ``jivocrm serve``), ``resume`` runs them in each chat's order."""

from __future__ import annotations

import asyncio
import json
from asyncio.subprocess import PIPE
from typing import Any

import aiohttp
from test_daemon import finished, first_seen, notes_by_deal
from test_daemon_kit import Daemon, crm, jivocrm, post, sample

from jivocrm.connectors.amocrm.emulator import RunningEmulator

CHATS, PER_CHAT = 5, 10


async def cli(daemon: Daemon, *args: str) -> Any:
    proc = await asyncio.create_subprocess_exec(
        *jivocrm(),
        *args,
        "--project",
        str(daemon.root),
        "--format",
        "json",
        env=daemon.env,
        stdout=PIPE,
        stderr=PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


def statuses(daemon: Daemon, bundle: str) -> dict[str, int]:
    rows = daemon.db(f"SELECT status, count(*) FROM runs WHERE bundle = '{bundle}' GROUP BY 1")
    return {str(k): int(v) for k, v in rows}


async def test_a_paused_bundle_holds_50_events_across_a_restart_and_runs_them_in_order(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    await daemon.start()
    paused = await cli(daemon, "bundles", "pause", "finished", "--reason", "new pipeline")
    async with aiohttp.ClientSession() as session:
        for seq in range(PER_CHAT):
            for chat in range(1, CHATS + 1):
                status, _ = await post(session, daemon.webhook, finished(chat, seq))
                assert status == 200
    assert await daemon.stop() == 0
    await daemon.start()
    # The other bundle still runs: once its run has ended, the workers have had their chance.
    async with aiohttp.ClientSession() as session:
        other = json.dumps(sample("chat_accepted", chat_id=999)).encode()
        assert (await post(session, daemon.webhook, other))[0] == 200
    for _ in range(600):
        if statuses(daemon, "accepted").get("succeeded"):
            break
        await asyncio.sleep(0.05)
    held = {row["bundle"]: row for row in await cli(daemon, "bundles", "list")}["finished"]
    state = await crm(emulator)
    assert (paused["runs_paused"], statuses(daemon, "finished")) == (0, {"paused": 50})
    assert (held["hold"]["reason"], held["paused_runs"], notes_by_deal(state)) == (
        "new pipeline",
        50,
        {},
    )

    resumed = await cli(daemon, "bundles", "resume", "finished")
    await daemon.settled(CHATS * PER_CHAT + 1)
    by_deal = notes_by_deal(await crm(emulator))
    assert (resumed["runs_queued"], statuses(daemon, "finished")) == (50, {"succeeded": 50})
    assert sorted(map(first_seen, by_deal.values())) == [list(range(PER_CHAT))] * CHATS
    assert await daemon.stop() == 0


async def test_resume_of_a_bundle_paused_in_its_file_says_so(daemon: Daemon) -> None:
    path = daemon.root / "bundles" / "finished.yaml"
    path.write_text(path.read_text("utf-8").replace("version: 1\n", "version: 1\nenabled: false\n"))
    await cli(daemon, "bundles", "pause", "finished")
    resumed = await cli(daemon, "bundles", "resume", "finished")
    (row,) = [r for r in await cli(daemon, "bundles", "list") if r["bundle"] == "finished"]
    assert (resumed["was_held"], resumed["held_by_file"], row["held"], row["hold"]) == (
        True,
        True,
        True,
        None,
    )
