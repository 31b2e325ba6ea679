"""``jivocrm serve`` as a subprocess for tests: start, SIGKILL, restart, look into its store.

Shared by the acceptance tests and the reliability suite. The emulators run in the test's own
event loop (port 0) or as ``jivocrm emulate``; the daemon is a separate process, so a test can
kill it with SIGKILL at any moment and start it again on the same project and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from jivocrm import samples


def jivocrm() -> list[str]:
    """The command that runs this checkout's ``jivocrm`` (the venv's script, or ``-m``)."""
    exe = Path(sys.executable).with_name("jivocrm")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "jivocrm"]


def sample(event: str, **changes: Any) -> dict[str, Any]:
    """A Jivo sample event with top-level keys replaced (dicts merged one level deep)."""
    data = samples.load(event)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


class Daemon:
    """One ``jivocrm serve`` process at a time on a fixed port; restartable.

    ``env`` adds environment variables (the project's ``${…}`` secrets); ``token`` is the channel
    token the ``webhook`` URL carries.
    """

    def __init__(
        self, root: Path, port: int, *, token: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.webhook = f"{self.url}/jivo/{token}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "daemon.log"
        self.env = {**os.environ, **(env or {})}

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
                    raise AssertionError(f"the daemon exited:\n{self.logs()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError("the daemon did not come up")

    def start_blocking(self, deadline: float = 30.0) -> None:
        """``start`` for code outside an event loop (module fixtures, hypothesis tests)."""
        self.proc = self.spawn()
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited:\n{self.logs()[-3000:]}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise AssertionError("the daemon did not come up")

    def healthy(self) -> bool:
        """Whether the process is alive and ``GET /healthz`` answers 200."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=5) as answer:
                return int(answer.status) == 200
        except OSError:
            return False

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

    def stop_blocking(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        return int(self.proc.returncode)

    def logs(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def db(self, sql: str) -> list[tuple[Any, ...]]:
        """A read-only look into the daemon's store."""
        path = self.root / ".jivocrm" / "jivocrm.db"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return list(conn.execute(sql))

    def run_counts(self) -> dict[str, int]:
        """Runs by status."""
        return {str(k): int(v) for k, v in self.db("SELECT status, count(*) FROM runs GROUP BY 1")}

    async def settled(self, expected_runs: int, polls: int = 1200) -> None:
        """Wait until ``expected_runs`` runs exist and none is queued or running."""
        counts: dict[str, int] = {}
        for _ in range(polls):
            counts = self.run_counts()
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
    """POST ``body``; the status and the answer (JSON when it parses, else the text)."""
    async with session.post(url, data=body, headers={"Content-Type": content_type}) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


async def emulator_state(url: str) -> dict[str, Any]:
    """An emulator's ``GET /_emulator/state`` (entities and the request log)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + "/_emulator/state") as resp,
    ):
        state: dict[str, Any] = await resp.json()
        return state


__all__ = ["Daemon", "emulator_state", "jivocrm", "post", "sample"]
