"""``jivocrm serve`` as a real process against hostile clients and bundles: connections that
trickle their headers or bodies (slowloris), a template that spends its whole budget while
``/healthz`` is asked, and the store's files on disk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import stat
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from jivocrm import samples
from jivocrm.testing.daemon import Daemon, post
from jivocrm.testing.net import free_port

TOKEN = "hostile-channel-token-0001"
WIDGET = "aB3dE5fGh7"
PROJECT = f"""\
version: 1
bundles: bundles/
server: {{header_timeout: 1, body_timeout: 1, workers: 2, shutdown_timeout: 2}}
channels:
  shop: {{widget_id: {WIDGET}, token: "${{JIVO_SHOP_TOKEN}}"}}
"""
# Each step spends a render's whole operation budget (the nested range is only known at run
# time, so validate lets it through); on_error: continue runs them all.
LOOP = "{% for i in range(event.chat_id) %}"
LOOPS = LOOP + LOOP.replace(" i ", " j ") + "{% endfor %}{% endfor %}"
SLOW_STEP = """\
  - id: slow{n}
    type: table_replace
    value: "{loops}"
    table: {{a: b}}
    default: c
    on_error: continue
"""
BUNDLE = "version: 1\nname: hostile\ntrigger: {event: chat_finished}\nsteps:\n" + "".join(
    SLOW_STEP.format(n=n, loops=LOOPS) for n in range(20)
)


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    root = tmp_path / "project"
    (root / "bundles").mkdir(parents=True)
    (root / "jivocrm.yaml").write_text(PROJECT, "utf-8")
    (root / "bundles" / "hostile.yaml").write_text(BUNDLE, "utf-8")
    server = Daemon(root, free_port(), token=TOKEN, env={"JIVO_SHOP_TOKEN": TOKEN})
    await server.start()
    yield server
    await server.stop()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the daemon closed the connection (after a 408 for a late body, or without a
    word for late headers)."""
    try:
        while chunk := sock.recv(4096):
            assert chunk.startswith(b"HTTP/1.1 408") or b"408" in chunk, chunk[:80]
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def test_slow_clients_are_cut_off_and_others_served(daemon: Daemon) -> None:
    slow = []
    for n in range(8):
        sock = socket.create_connection(("127.0.0.1", daemon.port))
        sock.settimeout(0.1)
        if n % 2:  # headers that never end
            sock.sendall(b"POST /jivo/" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        else:  # a body that never arrives in full
            sock.sendall(
                f"POST /jivo/{TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{{".encode()
            )
        slow.append(sock)
    body = json.dumps(samples.load("chat_accepted")).encode()
    async with aiohttp.ClientSession() as session:
        for _ in range(5):  # ordinary requests go through while the slow ones hang
            status, _ = await post(session, daemon.webhook, body)
            assert status == 200
            async with session.get(daemon.url + "/healthz") as answer:
                assert answer.status == 200
        await asyncio.sleep(0.2)
        # Keep trickling a byte now and then: the deadline counts from the connection's start.
        for sock in slow:
            with contextlib.suppress(OSError):
                sock.sendall(b"X")
        cut: list[bool] = []
        for _ in range(60):
            await asyncio.sleep(0.1)
            cut = [closed_by_server(s) for s in slow]
            if all(cut):
                break
    for sock in slow:
        sock.close()
    assert all(cut), cut


async def test_healthz_answers_while_a_hostile_template_renders(daemon: Daemon) -> None:
    event = dict(samples.load("chat_finished"), chat_id=100_000)
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        status, _ = await post(session, daemon.webhook, json.dumps(event).encode())
        assert status == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = time.perf_counter()
            async with session.get(daemon.url + "/healthz") as answer:
                assert answer.status == 200
            latencies.append(time.perf_counter() - started)
            if daemon.run_counts().get("succeeded"):
                break
            await asyncio.sleep(0.02)
    [(error,)] = daemon.db("SELECT record FROM steps WHERE step_id = 'slow0'")
    assert "over its budget" in json.loads(error)["error"], json.loads(error)["error"]
    # Twenty renders of a whole budget took seconds; /healthz kept answering meanwhile. The
    # median is robust to a busy machine's odd pause; inline rendering would make it seconds.
    assert len(latencies) > 10
    assert statistics.median(latencies) < 0.1, latencies


async def test_the_store_is_readable_by_its_owner_only(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as session:
        await post(session, daemon.webhook, json.dumps(samples.load("chat_accepted")).encode())
    folder = daemon.root / ".jivocrm"
    files = [p for p in folder.iterdir() if p.name.startswith("jivocrm.db")]
    assert {p.name for p in files} >= {"jivocrm.db", "jivocrm.db-wal"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
