"""``jivocrm serve`` as a subprocess against the amoCRM emulator on a real port."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from asyncio.subprocess import PIPE
from collections import defaultdict
from typing import Any

import aiohttp
from test_daemon_kit import TOKEN, Daemon, crm, faults, jivocrm, post, sample

from jivocrm import samples
from jivocrm.connectors.amocrm.emulator import RunningEmulator

SEQ = re.compile(r"seq (\d+)")


def body(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def finished(chat: int, seq: int) -> bytes:
    """Event ``seq`` of chat ``chat``: its own visitor, so one contact and one deal per chat."""
    visitor = {
        "phone": f"+7903{chat:07d}",
        "email": f"chat{chat}@example.ru",
        "name": f"Chat {chat}",
    }
    return body(
        sample("chat_finished", chat_id=chat, page={"title": f"seq {seq}"}, visitor=visitor)
    )


def notes_by_deal(state: dict[str, Any]) -> dict[int, list[int]]:
    """Deal id → the seq numbers of its notes, in the order the CRM received them."""
    found: dict[int, list[int]] = defaultdict(list)
    for note in sorted(state["notes"], key=lambda n: n["id"]):
        match = SEQ.search(json.dumps(note, ensure_ascii=False))
        if match:
            found[note["entity_id"]].append(int(match.group(1)))
    return found


def first_seen(seq: list[int]) -> list[int]:
    """Order of first occurrences: a note redone after a crash does not count as disorder."""
    out: list[int] = []
    for item in seq:
        if item not in out:
            out.append(item)
    return out


async def test_sample_events_make_contact_deal_and_the_reply_link(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    await daemon.start()
    # chat_accepted goes through `jivocrm send`, the command the first-run guide tells of.
    sample_file = daemon.root / "chat_accepted.json"
    sample_file.write_text(samples.text("chat_accepted"), "utf-8")
    sent = await asyncio.create_subprocess_exec(
        *jivocrm(), "send", str(sample_file), "--url", daemon.webhook, stdout=PIPE
    )
    printed, _ = await sent.communicate()
    reply = json.loads(printed)
    async with aiohttp.ClientSession() as session:
        finish = sample("chat_finished", chat_id=58213, page={"title": "seq 1"})
        await post(session, daemon.webhook, body(finish))
    await daemon.settled(2)
    state = await crm(emulator)
    [deal] = state["leads"]
    link = reply["crm_link"]
    assert (sent.returncode, link.endswith(f"/leads/detail/{deal['id']}")) == (0, True)
    assert [c["name"] for c in state["contacts"]] == ["Анна Смирнова"]
    assert notes_by_deal(state) == {deal["id"]: [1]}
    assert await daemon.stop() == 0


async def test_kill_9_while_200_events_of_20_chats_run_loses_and_duplicates_nothing(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    chats, per_chat = 20, 10
    faults(emulator, latency=0.01)  # slow enough that the kill finds work in flight
    await daemon.start()
    position = dict.fromkeys(range(1, chats + 1), 0)  # next seq to send, per chat
    acked = 0
    half = asyncio.Event()

    async def chat_poster(session: aiohttp.ClientSession, chat: int) -> None:
        nonlocal acked
        # One chat's events are sent one after another: arrival order is the chat's order.
        while position[chat] < per_chat:
            try:
                status, _ = await post(session, daemon.webhook, finished(chat, position[chat]))
            except aiohttp.ClientError:
                return  # the daemon is gone; this event was not acknowledged
            assert status == 200
            position[chat] += 1
            acked += 1
            if acked >= chats * per_chat // 2:
                half.set()

    async with aiohttp.ClientSession() as session:
        posters = [asyncio.create_task(chat_poster(session, c)) for c in position]
        await half.wait()
        daemon.kill()
        await asyncio.gather(*posters)
        interrupted = daemon.db("SELECT count(*) FROM runs WHERE status = 'running'")[0][0]
        await daemon.start()
        await asyncio.gather(*(chat_poster(session, c) for c in position))
    await daemon.settled(chats * per_chat)

    state = await crm(emulator)
    by_deal = notes_by_deal(state)
    statuses = dict(daemon.db("SELECT status, count(*) FROM runs GROUP BY status"))
    assert interrupted > 0  # the kill did land while runs were executing
    assert statuses == {"succeeded": chats * per_chat}
    assert (len(state["contacts"]), len(state["leads"])) == (chats, chats)
    assert sorted(map(first_seen, by_deal.values())) == [list(range(per_chat))] * chats
    assert await daemon.stop() == 0


async def test_crm_failures_for_a_while_then_recovery_complete_every_run(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    await daemon.start()
    faults(emulator, error_rate=0.3, rate_429=0.2, retry_after=0.3, timeout_rate=0.05, hang=2.5)
    async with aiohttp.ClientSession() as session:
        for seq in range(3):
            answers = await asyncio.gather(
                *(post(session, daemon.webhook, finished(chat, seq)) for chat in range(1, 11))
            )
            assert {status for status, _ in answers} == {200}
        await asyncio.sleep(2.0)
        faults(emulator, error_rate=0, rate_429=0, timeout_rate=0)
    await daemon.settled(30)
    state = await crm(emulator)
    statuses = dict(daemon.db("SELECT status, count(*) FROM runs GROUP BY status"))
    answered = {r["status"] for r in state["requests"]}
    assert statuses == {"succeeded": 30}
    assert answered >= {500, 429}  # the faults did reach the daemon
    assert (len(state["contacts"]), len(state["leads"])) == (10, 10)


async def test_a_byte_identical_redelivery_gives_one_run(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    await daemon.start()
    event = finished(7, 0)
    async with aiohttp.ClientSession() as session:
        answers = [await post(session, daemon.webhook, event) for _ in range(3)]
    await daemon.settled(1)
    assert [status for status, _ in answers] == [200, 200, 200]
    assert daemon.db("SELECT count(*) FROM events")[0][0] == 1
    assert daemon.db("SELECT count(*) FROM runs")[0][0] == 1
    assert len((await crm(emulator))["notes"]) == 1


async def test_an_invalid_reload_keeps_the_old_project_serving(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    await daemon.start()
    broken = daemon.root / "bundles" / "broken.yaml"
    broken.write_text("version: 1\nname: broken\ntrigger: {event: chat_accepted}\nsteps: 5\n")
    daemon.signal(signal.SIGHUP)
    for _ in range(100):
        if "reload_rejected" in daemon.logs():
            break
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as session:
        status, reply = await post(session, daemon.webhook, body(sample("chat_accepted")))
    assert "bundles/broken.yaml:4" in daemon.logs()  # every error, with its position
    assert (status, "crm_link" in reply) == (200, True)


BAD_INPUT = [
    # (what, path suffix, content type, body, expected status)
    ("wrong token", "/jivo/not-the-token", "application/json", b'{"event_name": "x"}', 404),
    # The label is not checked (a JSON body is taken as any type); what is not JSON is refused.
    ("not JSON", None, "text/plain", b"event_name=chat_finished", 400),
    ("NaN", None, "application/json", b'{"event_name": "chat_finished", "chat_id": NaN}', 400),
    ("malformed JSON", None, "application/json", b'{"event_name": "chat_', 400),
    ("oversized body", None, "application/json", b'{"pad": "' + b"x" * 70000 + b'"}', 413),
    ("deep nesting", None, "application/json", b"[" * 20000 + b"]" * 20000, 400),
    ("wrong widget", None, "application/json", body(sample("chat_finished", widget_id="zz")), 403),
]


async def test_bad_input_gets_the_right_4xx_and_changes_nothing(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    await daemon.start()
    got = {}
    async with aiohttp.ClientSession() as session:
        for what, path, content_type, data, _ in BAD_INPUT:
            url = daemon.url + path if path else daemon.webhook
            got[what] = (await post(session, url, data, content_type))[0]
    assert got == {what: status for what, _, _, _, status in BAD_INPUT}
    assert daemon.db("SELECT count(*) FROM events")[0][0] == 0
    assert daemon.db("SELECT count(*) FROM runs")[0][0] == 0
    # Each refusal on the channel is recorded apart (written within a second of the answer).
    refused: list[tuple[object, ...]] = []
    for _ in range(200):
        refused = daemon.db("SELECT status FROM rejections ORDER BY id")
        if len(refused) == len(BAD_INPUT) - 1:
            break
        await asyncio.sleep(0.05)
    assert [s for (s,) in refused] == [status for *_, status in BAD_INPUT if status != 404]
    assert (await crm(emulator))["requests"] == []
    assert TOKEN not in daemon.logs()  # the channel's secret never reaches a log line


async def test_sigterm_under_load_exits_0_and_leaves_the_rest_to_the_next_start(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    faults(emulator, latency=0.3)  # every CRM call slow: runs are mid-way when the signal comes
    await daemon.start()
    async with aiohttp.ClientSession() as session:
        for chat in range(1, 17):
            assert (await post(session, daemon.webhook, finished(chat, 0)))[0] == 200
    for _ in range(100):
        if daemon.db("SELECT count(*) FROM runs WHERE status = 'running'")[0][0]:
            break
        await asyncio.sleep(0.05)
    code = await daemon.stop()
    left = dict(daemon.db("SELECT status, count(*) FROM runs GROUP BY status"))
    faults(emulator, latency=0)
    await daemon.start()
    await daemon.settled(16)
    state = await crm(emulator)
    assert (code, left.get("running"), left.get("queued", 0) > 0) == (0, None, True)
    assert dict(daemon.db("SELECT status, count(*) FROM runs GROUP BY status")) == {"succeeded": 16}
    assert (len(state["contacts"]), len(state["leads"]), len(state["notes"])) == (16, 16, 16)
