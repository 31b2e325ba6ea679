"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright for Python, and the
daemon's app with the journal pages served in-process (``create_app`` + ``setup_ui``, the wiring
the daemon gets) next to the emulators of ``journal_world``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from journal_world import World, journal_world

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class DaemonThread:
    """``create_app(project)`` with ``setup_ui`` on the project's port, in a thread of its own."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DaemonThread:
        self._thread.start()
        assert self._ready.wait(30), "the daemon did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        from jivocrm.engine.project import load_project
        from jivocrm.server.app import create_app
        from jivocrm.server.ui import setup_ui

        project, problems = load_project(self.world.root)
        assert project is not None, problems
        app = create_app(project, environ=self.world.env)
        setup_ui(app, environ=self.world.env)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.world.port).start()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[World]:
    """Emulators, the project, and the daemon with its journal pages (JIVOCRM_ADMIN_TOKEN set)."""
    with journal_world(tmp_path / "project", start=False) as world:
        world.env["JIVOCRM_ADMIN_TOKEN"] = "admin-token-for-the-ui-test"
        with DaemonThread(world):
            yield world


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU")
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
