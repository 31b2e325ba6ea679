"""A journal built the real way, for the journal's CLI, acceptance and browser tests.

``jivocrm serve`` runs as a subprocess on a temp project whose connections point at the amoCRM
and Bitrix24 emulators, which run in a thread of the test process on port 0 — so a test injects
faults and counts CRM entities over the emulators' HTTP test hooks while the daemon works. Events
go in as Jivo would post them; every command under test runs as a subprocess too.

Importable as ``journal_world`` from any test: ``tests/`` is on ``sys.path`` through its conftest.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jivocrm import samples
from jivocrm.testing.net import LoopThread

JIVOCRM = [sys.executable, "-m", "jivocrm"]
TOKEN = "journal-test-channel-token-01"
BLOG_TOKEN = "journal-test-blog-token-0002"  # the channel that never delivers
WIDGET = "aB3dE5fGh7"
AMO_TOKEN = "emulator-admin-token"

PROJECT = """\
version: 1
bundles: bundles/
server: {{host: 127.0.0.1, port: {port}, reply_timeout: 0.5}}
retry: {{attempts: 2, initial: 0.1, multiplier: 1, max_delay: 0.1}}
journal: {{retention_days: 30, redact_personal_data: {redact}}}
channels:
  shop: {{widget_id: {widget}, token: "${{JIVO_SHOP_TOKEN}}"}}
  blog: {{widget_id: Zz9Yy8Xx7W, token: "${{JIVO_BLOG_TOKEN}}"}}
connections:
  amo: {{type: amocrm, base_url: "{amo}", auth: {{long_lived_token: "${{AMO_TOKEN}}"}}}}
  b24: {{type: bitrix24, webhook_url: "${{B24_WEBHOOK_URL}}"}}
"""

# Two CRMs in one bundle: the amoCRM contact is created ALWAYS (mode create), so a replay that
# ran it again would show as a second contact — the duplicate the resume must not make.
BOTH = """\
version: 1
name: Контакт в обе CRM
trigger: {event: chat_finished}
filter:
  any:
    - all: [{field: visitor.phone, op: not_empty}]
steps:
  - id: amo_contact
    type: new_contact
    connection: amo
    fields:
      name: "{{ event.visitor.name }}"
      phone: "{{ event.visitor.phone }}"
    duplicates: {mode: create}
  - id: b24_contact
    type: new_contact
    connection: b24
    fields:
      name: "{{ event.visitor.name }}"
      phone: "{{ event.visitor.phone }}"
    duplicates: {mode: skip, match: [phone]}
"""

CORPORATE = """\
version: 1
name: corporate-only
trigger: {event: chat_finished}
filter:
  any:
    - all: [{field: visitor.email, op: ends_with, value: "@corp.example"}]
steps:
  - id: contact
    type: new_contact
    connection: amo
    fields: {name: "{{ event.visitor.name }}", email: "{{ event.visitor.email }}"}
    duplicates: {mode: skip, match: [email]}
"""

ACCEPTED = """\
version: 1
name: on-accept
trigger: {event: chat_accepted}
steps:
  - id: contact
    type: new_contact
    connection: amo
    fields: {name: "{{ event.visitor.name }}", phone: "{{ event.visitor.phone }}"}
    duplicates: {mode: skip, match: [phone]}
"""

BUNDLES = {"both": BOTH, "corporate": CORPORATE, "accepted": ACCEPTED}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            text = answer.read().decode()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Emulators:
    """amoCRM and Bitrix24 emulators on port 0 in a thread with its own event loop."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self._loop = LoopThread("journal-emulators")
        self._stack = contextlib.AsyncExitStack()

    def __enter__(self) -> Emulators:
        self.urls = self._loop.start().run(self._serve())
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.run(self._stack.aclose())
        self._loop.stop()

    async def _serve(self) -> dict[str, str]:
        from jivocrm.connectors.amocrm.emulator import running_emulator as amo
        from jivocrm.connectors.bitrix24.emulator import running_emulator as b24

        a = await self._stack.enter_async_context(amo(rate_limit=0))
        b = await self._stack.enter_async_context(b24(faults={"rate_limit": {"rate": 0}}))
        return {"amo": a.url, "b24": b.url}

    def faults(self, name: str, **values: Any) -> None:
        status, answer = http("POST", f"{self.urls[name]}/_emulator/faults", values)
        assert status == 200, answer

    def state(self, name: str) -> dict[str, Any]:
        status, answer = http("GET", f"{self.urls[name]}/_emulator/state")
        assert status == 200, answer
        return dict(answer)

    def contacts(self, name: str) -> list[dict[str, Any]]:
        state = self.state(name)
        found = state.get("contacts") or state.get("crm", {}).get("contacts") or []
        return list(found.values() if isinstance(found, dict) else found)


@dataclass
class World:
    root: Path
    port: int
    emulators: Emulators
    env: dict[str, str] = field(default_factory=dict)
    daemon: subprocess.Popen[bytes] | None = None
    # Answers of read-only commands on a journal that no longer changes (``query``/``text``):
    # each command is a subprocess of a few seconds, the same answer serves several tests.
    memo: dict[tuple[str, ...], Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.root / ".jivocrm" / "jivocrm.db"

    # ---- the daemon ----------------------------------------------------------------------------
    def start(self) -> None:
        with (self.root / "serve.log").open("ab") as log:  # the child keeps its own copy
            self.daemon = subprocess.Popen(
                [*JIVOCRM, "serve", str(self.root), "--log-level", "warning"],
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.daemon.poll() is None, (self.root / "serve.log").read_text()
            with contextlib.suppress(OSError):
                if http("GET", f"{self.url}/readyz", timeout=1)[0] == 200:
                    return
            time.sleep(0.1)
        raise AssertionError("jivocrm serve did not become ready")

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(30)
        self.daemon = None

    # ---- events in, commands out ---------------------------------------------------------------
    def send(self, payload: dict[str, Any], token: str = TOKEN) -> Any:
        status, answer = http("POST", f"{self.url}/jivo/{token}", payload)
        assert status == 200, answer
        return answer

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until no run is queued or running (failed retriable ones included)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.closing(sqlite3.connect(self.db)) as conn:
                (left,) = conn.execute(
                    "SELECT count(*) FROM runs WHERE status IN ('queued', 'running')"
                ).fetchone()
            if left == 0:
                return
            time.sleep(0.1)
        raise AssertionError("runs did not finish")

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*JIVOCRM, *args, "--project", str(self.root)],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def json(self, *args: str, ok: bool = True) -> Any:
        return json.loads(self.cli(*args, "--format", "json", ok=ok).stdout)

    def query(self, *args: str) -> Any:
        if ("json", *args) not in self.memo:
            self.memo[("json", *args)] = self.json(*args)
        return self.memo[("json", *args)]

    def text(self, *args: str) -> str:
        if ("text", *args) not in self.memo:
            self.memo[("text", *args)] = self.cli(*args).stdout
        return str(self.memo[("text", *args)])

    def db_rows(self, sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            return list(conn.execute(sql).fetchall())


def sample(event: str = "chat_finished", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(samples.load(event))
    visitor = changes.pop("visitor", {})
    data.update(changes)
    data["visitor"] = {**data.get("visitor", {}), **visitor}
    return data


@contextlib.contextmanager
def journal_world(
    root: Path, *, redact: bool = False, start: bool = True, env: dict[str, str] | None = None
) -> Iterator[World]:
    """Emulators, a project on them and (``start``) its daemon; everything stops afterwards."""
    with Emulators() as emulators:
        port = free_port()
        (root / "bundles").mkdir(parents=True)
        (root / "jivocrm.yaml").write_text(
            PROJECT.format(
                port=port, widget=WIDGET, amo=emulators.urls["amo"], redact=str(redact).lower()
            ),
            "utf-8",
        )
        for name, text in BUNDLES.items():
            (root / "bundles" / f"{name}.yaml").write_text(text, "utf-8")
        environ = {
            **os.environ,
            "JIVO_SHOP_TOKEN": TOKEN,
            "JIVO_BLOG_TOKEN": BLOG_TOKEN,
            "AMO_TOKEN": AMO_TOKEN,
            "B24_WEBHOOK_URL": f"{emulators.urls['b24']}/rest/1/emulatorcode1/",
            "NO_COLOR": "1",
            **(env or {}),
        }
        world = World(root, port, emulators, environ)
        try:
            if start:
                world.start()
            yield world
        finally:
            world.stop()


__all__ = ["TOKEN", "WIDGET", "Emulators", "World", "journal_world", "sample"]
