"""What the daemon's acceptance tests share: ``jivocrm serve`` as a subprocess (``Daemon``), the
test project, and helpers for the amoCRM emulator running on a real port.

The emulator runs in the test's own event loop (port 0), so tests wait with ``asyncio.sleep``
and talk HTTP with aiohttp; the daemon is a separate process that can be killed with SIGKILL.
A module of its own (not conftest.py): test folders each have a conftest, and ``import conftest``
would find whichever was imported first.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from jivocrm.connectors.amocrm.emulator import RunningEmulator
from jivocrm.connectors.amocrm.emulator_routes import STATE

SAMPLES = Path("/work/shared/api/samples")
TOKEN = "acceptance-channel-token-0001"
WIDGET = "aB3dE5fGh7"
AMO_TOKEN = "emulator-admin-token"

PROJECT = """\
version: 1
bundles: bundles/
server: {{reply_timeout: 5, workers: 8, shutdown_timeout: 5, body_limit: 65536}}
retry: {{attempts: 40, initial: 0.2, multiplier: 1.5, max_delay: 1.0}}
channels:
  shop: {{widget_id: {widget}, token: "${{JIVO_SHOP_TOKEN}}"}}
connections:
  amo:
    type: amocrm
    base_url: {crm_url}
    auth: {{long_lived_token: "${{AMO_TOKEN}}"}}
    rate_limit: {{rate: 1000, burst: 1000}}
    timeout: 2
"""

CONTACT_AND_DEAL = """\
  - id: contact
    type: new_contact
    connection: amo
    fields:
      name: "{{ event.visitor.name }}"
      phone: "{{ event.visitor.phone }}"
      email: "{{ event.visitor.email }}"
    duplicates: {mode: skip, match: [phone, email]}
  - id: deal
    type: new_deal
    connection: amo
    fields:
      name: "Чат Jivo #{{ event.chat_id }}"
      contact: "{{ steps.contact.id }}"
      pipeline: Продажи
      stage: Первичный контакт
    duplicates: {mode: skip, match: [contact]}
"""

BUNDLES = {
    "accepted": "version: 1\nname: accepted\ntrigger: {event: chat_accepted}\nsteps:\n"
    + CONTACT_AND_DEAL
    + '  - id: reply\n    type: jivo_reply\n    crm_link: "{{ steps.deal.url }}"\n',
    # Each event leaves a note "seq N" (sent as page.title) on the chat's deal: the notes show
    # order and loss.
    "finished": "version: 1\nname: finished\ntrigger: {event: chat_finished}\nsteps:\n"
    + CONTACT_AND_DEAL
    + "  - id: note\n    type: add_note\n    connection: amo\n"
    + '    entity: {type: deal, id: "{{ steps.deal.id }}"}\n'
    + '    text: "{{ event.page.title }}"\n',
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sample(event: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"jivo_{event}.json").read_text("utf-8"))
    data = copy.deepcopy(data)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def jivocrm() -> list[str]:
    exe = Path(sys.executable).with_name("jivocrm")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "jivocrm"]


class Daemon:
    """One ``jivocrm serve`` process at a time on a fixed port; restartable."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.webhook = f"{self.url}/jivo/{TOKEN}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "daemon.log"
        self.env = {**os.environ, "JIVO_SHOP_TOKEN": TOKEN, "AMO_TOKEN": AMO_TOKEN}

    def spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [*jivocrm(), "serve", str(self.root), "--port", str(self.port)],
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        self.proc = self.spawn()
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                if self.proc.poll() is not None:
                    raise AssertionError(f"the daemon exited:\n{self.log.read_text()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError("the daemon did not come up")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self) -> int:
        """SIGTERM and wait for the exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        for _ in range(400):
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        else:
            self.kill()
        return int(self.proc.returncode)

    def logs(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def db(self, sql: str) -> list[tuple[Any, ...]]:
        """A read-only look into the daemon's store."""
        path = self.root / ".jivocrm" / "jivocrm.db"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return list(conn.execute(sql))

    async def settled(self, expected_runs: int, polls: int = 1200) -> None:
        """Wait until ``expected_runs`` runs exist and none is queued or running."""
        for _ in range(polls):
            rows = self.db("SELECT status, count(*) FROM runs GROUP BY status")
            counts = dict(rows)
            total = sum(counts.values())
            if total >= expected_runs and not counts.get("queued") and not counts.get("running"):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"runs did not settle: {counts}\n{self.logs()[-3000:]}")


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    async with session.post(url, data=body, headers={"Content-Type": content_type}) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


async def crm(emulator: RunningEmulator) -> dict[str, Any]:
    """The emulator's account as ``GET /_emulator/state`` shows it (contacts, leads, notes…)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(emulator.url + "/_emulator/state") as resp,
    ):
        state: dict[str, Any] = await resp.json()
        return state


def faults(emulator: RunningEmulator, **knobs: Any) -> None:
    emulator.app[STATE].faults.update(knobs)
