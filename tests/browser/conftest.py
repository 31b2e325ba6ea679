"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright for Python, against
``jivocrm serve`` as a subprocess (it mounts the journal pages under /ui) on the emulators of
``journal_world``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
ADMIN_TOKEN = "admin-token-for-the-ui-test"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[World]:
    """Emulators, the project, and its daemon with JIVOCRM_ADMIN_TOKEN set."""
    env = {"JIVOCRM_ADMIN_TOKEN": ADMIN_TOKEN}
    with journal_world(tmp_path / "project", env=env) as world:
        yield world


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Any, locale: str) -> Any:
    """A page of a fresh browser profile whose Accept-Language is ``locale``'s."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale=locale)
    return context.new_page()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A browser that asks for English pages (the tests read the English texts)."""
    opened = open_page(browser, "en-US")
    try:
        yield opened
    finally:
        opened.context.close()


@pytest.fixture
def page_ru(browser: Any) -> Iterator[Any]:
    """A browser set to Russian, as the journal's readers' mostly are."""
    opened = open_page(browser, "ru-RU")
    try:
        yield opened
    finally:
        opened.context.close()
