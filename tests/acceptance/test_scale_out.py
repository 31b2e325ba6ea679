"""Scale-out: three ``jivocrm serve`` processes on one PostgreSQL database, one killed midway.

The amoCRM emulator runs in its own process (its clock and request log are the CRM's view, not
disturbed by the load generator) with its own limit of 7 requests in any sliding second. Each of
50 chats sends 20 events one after another — chat_accepted, 18 × chat_updated, chat_finished —
to the three daemons in turn, as a load balancer would; the chats interleave freely. Halfway
through, one daemon gets SIGKILL; its in-flight runs must come back after their lease.

chat_accepted and chat_finished both run "contact + deal, skip duplicates": run out of order or
at the same time on two instances, they would make two contacts. chat_updated runs a step that
calls no CRM, so the lanes are long (20 runs each) without the CRM limit stretching the test.

Checked: every event stored once and every run succeeded (a 429 the account answered would have
been waited out and retried); one contact and one deal per chat in the emulator; in each lane,
every run started after the previous one finished. The busiest second at the emulator and the
429s are printed, not asserted: how close three processes' requests arrive depends on how busy
the machine is. That the shared limiter hands out at most 7 slots per second, and no fewer, is
tested on the database's own clock (tests/integration/test_postgres_shared_state.py).

Needs from the daemon: the store's shared limiters passed to the connections (else each instance
paces itself alone and three of them exceed the account's limit) and ``serve --lease`` (read
here from JIVOCRM_SERVE_LEASE; without it the killed instance's runs wait for the default lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from jivocrm import samples
from jivocrm.testing.net import free_port, wait_for
from jivocrm.testing.store_contract import pg_dsn, scratch_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

TOKEN = "scale-out-channel-token-1"
AMO_TOKEN = "emulator-admin-token"  # what the emulator's default seed accepts
INSTANCES = 3
CHATS = 50
EVENTS_PER_CHAT = 20
LEASE = 5.0
AMO_LIMIT = 7

PROJECT = """\
version: 1
bundles: bundles/
store: "${{STORE_URL}}"
server: {{host: 127.0.0.1, reply_timeout: 2.5, workers: 8, shutdown_timeout: 2}}
retry: {{attempts: 10, initial: 0.5, multiplier: 2, max_delay: 5}}
channels:
  shop: {{widget_id: aB3dE5fGh7, token: "${{JIVO_TOKEN}}"}}
connections:
  amo:
    type: amocrm
    base_url: {amo_url}
    auth: {{long_lived_token: "${{AMO_TOKEN}}"}}
"""

CONTACT_AND_DEAL = """\
version: 1
name: {name}
trigger: {{event: {event}}}
steps:
  - id: contact
    type: new_contact
    connection: amo
    fields:
      name: "{{{{ event.visitor.name }}}}"
      phone: "{{{{ event.visitor.phone }}}}"
    duplicates: {{mode: skip, match: [phone]}}
  - id: deal
    type: new_deal
    connection: amo
    fields:
      name: "Чат Jivo #{{{{ event.chat_id }}}}"
      contact: "{{{{ steps.contact.id }}}}"
      pipeline: Продажи
      stage: Первичный контакт
    duplicates: {{mode: skip, match: [contact]}}
"""

PROGRESS = """\
version: 1
name: chat-progress
trigger: {event: chat_updated}
steps:
  - id: source
    type: table_replace
    value: "{{ event.widget_id }}"
    table: {aB3dE5fGh7: Сайт 1}
    default: Другой сайт
"""

# The emulator stands for amoCRM's servers, which have CPUs of their own. On a loaded test
# machine a starved emulator process would read several requests in one go and stamp them with
# one arrival time, blaming the senders for its own lateness; a higher priority (where allowed)
# keeps its clock honest.
EMULATOR = """\
import asyncio, contextlib, os
from aiohttp import web
from jivocrm.connectors.amocrm.emulator import create_app

async def main():
    with contextlib.suppress(OSError):
        os.nice(-10)
    runner = web.AppRunner(create_app(rate_limit={limit}), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"http://127.0.0.1:{{runner.addresses[0][1]}}", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


# ---- the world: emulator, project, daemons --------------------------------------------------
@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def amo_emulator(tmp_path: Path) -> Iterator[str]:
    args = [sys.executable, "-c", EMULATOR.format(limit=AMO_LIMIT)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), "the emulator did not start"
        yield url
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def write_project(root: Path, amo_url: str) -> None:
    (root / "bundles").mkdir(parents=True)
    (root / "jivocrm.yaml").write_text(PROJECT.format(amo_url=amo_url), "utf-8")
    for name, event in (("contact-and-deal", "chat_accepted"), ("close-deal", "chat_finished")):
        text = CONTACT_AND_DEAL.format(name=name, event=event)
        (root / "bundles" / f"{name}.yaml").write_text(text, "utf-8")
    (root / "bundles" / "chat-progress.yaml").write_text(PROGRESS, "utf-8")


@contextlib.asynccontextmanager
async def daemons(root: Path, store_url: str) -> AsyncIterator[list[tuple[str, Any]]]:
    env = {
        **os.environ,
        "STORE_URL": store_url,
        "JIVO_TOKEN": TOKEN,
        "AMO_TOKEN": AMO_TOKEN,
        # A short lease so a killed instance's runs come back within the test (serve --lease).
        "JIVOCRM_SERVE_LEASE": str(LEASE),
    }
    with contextlib.ExitStack() as stack:
        started = []
        for n in range(INSTANCES):
            port = free_port()
            args = [sys.executable, "-m", "jivocrm", "serve", str(root), "--port", str(port)]
            proc = stack.enter_context(process(args, env, root / f"daemon{n}.log"))
            started.append((f"http://127.0.0.1:{port}", proc))
        for url, _ in started:
            await asyncio.to_thread(wait_for, f"{url}/readyz", 60.0)
        yield started


# ---- the load -------------------------------------------------------------------------------
def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = samples.load(name)
    return data


def phone(chat: int) -> str:
    return f"+7916{chat:07d}"


def chat_events(chat: int) -> list[bytes]:
    """The 20 events of one chat, in the order Jivo sends them."""
    names = ["chat_accepted"] + ["chat_updated"] * (EVENTS_PER_CHAT - 2) + ["chat_finished"]
    events = []
    for seq, name in enumerate(names):
        data = copy.deepcopy(sample(name))
        data["chat_id"] = 900_000 + chat
        visitor = data.setdefault("visitor", {})
        visitor.update(name=f"Посетитель {chat}", phone=phone(chat), email=None)
        visitor["description"] = f"event {seq} of chat {chat}"  # unique bodies: no dedup
        events.append(json.dumps(data, ensure_ascii=False).encode())
    return events


class Load:
    """Posts every chat's events in order, to the daemons in turn; kills one at ``kill_at``."""

    def __init__(self, instances: list[tuple[str, Any]], kill_at: int, store_url: str) -> None:
        self.instances = instances
        self.kill_at = kill_at
        self.store_url = store_url
        self.dead: set[int] = set()
        self.acked = 0
        self.retried = 0
        self.orphaned: asyncio.Task[int] | None = None

    async def chat(self, session: aiohttp.ClientSession, chat: int) -> None:
        for seq, body in enumerate(chat_events(chat)):
            await self.post(session, (chat + seq) % INSTANCES, body)

    async def post(self, session: aiohttp.ClientSession, first: int, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        for attempt in range(3 * INSTANCES):
            n = (first + attempt) % INSTANCES
            if n in self.dead:
                continue
            url = f"{self.instances[n][0]}/jivo/{TOKEN}"
            try:
                async with session.post(url, data=body, headers=headers) as answer:
                    if answer.status == 200:
                        self.acked += 1
                        if self.acked == self.kill_at:
                            self.kill(0)
                        return
            except aiohttp.ClientError:
                pass  # the instance died under us: the balancer tries the next one
            self.retried += 1
        raise AssertionError("no daemon accepted the event")

    def kill(self, n: int) -> None:
        self.dead.add(n)
        proc = self.instances[n][1]
        proc.send_signal(signal.SIGKILL)
        self.orphaned = asyncio.create_task(running_runs_of(self.store_url, proc.pid))


async def running_runs_of(store_url: str, pid: int) -> int:
    """Runs a process holds (lease owners are ``host:pid:nonce``): what the others must take."""
    query = b"SELECT count(*) FROM runs WHERE status = 'running' AND lease_owner LIKE %s"
    async with await psycopg.AsyncConnection.connect(store_url) as conn:
        row = await (await conn.execute(query, (f"%:{pid}:%",))).fetchone()
    return int(row[0]) if row else 0


async def settled(store_url: str, expected_runs: int, deadline: float) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(store_url) as conn:
        while True:
            cur = await conn.execute(b"SELECT status, count(*) FROM runs GROUP BY status")
            counts = {str(s): int(n) for s, n in await cur.fetchall()}
            await conn.commit()
            done = counts.get("succeeded", 0) + counts.get("failed", 0)
            if done >= expected_runs or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(1.0)


# ---- the checks -----------------------------------------------------------------------------
def densest_window(times: list[float], window: float = 1.0) -> list[float]:
    """The most requests that arrived within ``window`` seconds of each other."""
    times = sorted(times)
    best: list[float] = []
    start = 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        if end - start + 1 > len(best):
            best = times[start : end + 1]
    return best


async def lane_order_violations(store_url: str) -> int:
    """Runs of a lane that started before the run ahead of them (by arrival) had finished."""
    query = b"""
        SELECT r.lane, r.id, r.updated_at AS finished,
               (SELECT min((s.record::json ->> 'started_at')::double precision)
                FROM steps AS s WHERE s.run_id = r.id) AS started
        FROM runs AS r ORDER BY r.lane, r.id"""
    async with await psycopg.AsyncConnection.connect(store_url) as conn:
        rows = await (await conn.execute(query)).fetchall()
    violations = 0
    previous: dict[str, float] = {}
    for lane, _run_id, finished, started in rows:
        if lane in previous and (started is None or started < previous[lane]):
            violations += 1
        previous[lane] = finished
    return violations


async def journal_bytes(store_url: str) -> int:
    """Bytes on disk of the journal's tables with their indexes (for database sizing)."""
    tables = ("events", "runs", "steps", "not_matched", "rejections")
    query = " + ".join(f"pg_total_relation_size('{t}')" for t in tables)
    async with await psycopg.AsyncConnection.connect(store_url) as conn:
        row = await (await conn.execute(f"SELECT {query}".encode())).fetchone()
    return int(row[0]) if row else 0


async def emulator_state(amo_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{amo_url}/_emulator/state") as r:
        state: dict[str, Any] = await r.json()
        return state


def records_per_chat(state: dict[str, Any]) -> tuple[list[int], list[int]]:
    """(contacts, deals) per chat, found by the chat's phone digits and deal name."""
    contacts = [
        sum(phone(chat)[1:] in json.dumps(c) for c in state["contacts"]) for chat in range(CHATS)
    ]
    deals = [
        sum(lead["name"] == f"Чат Jivo #{900_000 + chat}" for lead in state["leads"])
        for chat in range(CHATS)
    ]
    return contacts, deals


async def test_three_daemons_one_killed_process_every_event_once_in_order_within_the_limit(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    total = CHATS * EVENTS_PER_CHAT
    async with scratch_database(pg_dsn()) as store_url:
        with amo_emulator(tmp_path) as amo_url:
            write_project(tmp_path, amo_url)
            async with daemons(tmp_path, store_url) as instances:
                load = Load(instances, kill_at=total // 2, store_url=store_url)
                async with aiohttp.ClientSession() as session:
                    await asyncio.gather(*(load.chat(session, c) for c in range(CHATS)))
                posted = time.monotonic()
                assert load.orphaned is not None, "the instance was not killed"
                orphaned = await load.orphaned
                counts = await settled(store_url, total, deadline=time.monotonic() + 180)
                finished = time.monotonic()
                state = await emulator_state(amo_url)
            violations = await lane_order_violations(store_url)
            size = await journal_bytes(store_url)
    api = [r for r in state["requests"] if r["path"].startswith("/api/")]
    densest = densest_window([r["time"] for r in api])
    per_window = len(densest)
    too_many = sum(r["status"] == 429 for r in api)
    contacts, deals = records_per_chat(state)
    print(
        f"\nscale-out: {load.acked} events acked ({load.retried} re-sent to another instance),"
        f" {orphaned} runs left running by the killed instance,"
        f" runs {counts}, posted in {posted - started:.1f} s, settled after"
        f" {finished - started:.1f} s; CRM requests {len(api)}, max per 1 s window"
        f" {per_window}, 429s {too_many}; contacts {sum(contacts)}, deals {sum(deals)};"
        f" lane order violations {violations}; journal {size / 1e6:.1f} MB"
        f" ({size / total / 1e3:.1f} KB per event)"
    )
    assert load.acked == total
    assert orphaned > 0, "the killed instance held no run: nothing was taken over"
    assert counts == {"succeeded": total}
    assert (set(contacts), set(deals)) == ({1}, {1})
    assert violations == 0


async def test_chats_of_one_new_visitor_on_three_instances_at_once_make_one_contact(
    tmp_path: Path,
) -> None:
    """Three chats of each new visitor (three lanes) at the same moment, one to each instance:
    each instance's run claims the visitor's phone in the shared store before looking it up."""
    visitors = 10
    bodies: list[list[bytes]] = []
    for visitor in range(visitors):
        chats = []
        for n in range(INSTANCES):
            data = copy.deepcopy(sample("chat_accepted"))
            data["chat_id"] = 950_000 + visitor * INSTANCES + n
            data["visitor"] = {"name": f"Посетитель {visitor}", "phone": phone(visitor)}
            chats.append(json.dumps(data, ensure_ascii=False).encode())
        bodies.append(chats)
    async with scratch_database(pg_dsn()) as store_url:
        with amo_emulator(tmp_path) as amo_url:
            write_project(tmp_path, amo_url)
            async with daemons(tmp_path, store_url) as instances, aiohttp.ClientSession() as s:
                posts = [
                    s.post(f"{instances[n][0]}/jivo/{TOKEN}", data=body)
                    for chats in bodies
                    for n, body in enumerate(chats)
                ]
                answers = await asyncio.gather(*posts)
                statuses = {answer.status for answer in answers}
                for answer in answers:
                    answer.release()
                counts = await settled(store_url, visitors * INSTANCES, time.monotonic() + 120)
                state = await emulator_state(amo_url)
    assert statuses == {200}
    assert counts == {"succeeded": visitors * INSTANCES}
    contacts = [
        sum(phone(v)[1:] in json.dumps(c) for c in state["contacts"]) for v in range(visitors)
    ]
    assert contacts == [1] * visitors
