"""The journal pages as the access and language tests use them: ``setup_ui`` over a real SQLite
journal that holds one failed run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from jivocrm.engine.project import load_project
from jivocrm.server.ui import Journal, setup_ui
from jivocrm.store.base import NewEvent, NewRun
from jivocrm.store.sqlite import SQLiteStore

TOKEN = "admin-token-0123456789"
PROJECT = "version: 1\nbundles: bundles/\n"
BUNDLE = """\
version: 1
name: Заявка
trigger: {event: chat_finished}
steps:
  - id: source
    type: table_replace
    value: "{{ event.widget_id }}"
    table: {a: Сайт}
    default: Другой
"""

Client = TestClient[Any, Any]


async def journal_pages(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    """The journal pages over a real SQLite journal holding one failed run (run 1)."""
    (tmp_path / "bundles").mkdir()
    (tmp_path / "jivocrm.yaml").write_text(PROJECT, "utf-8")
    (tmp_path / "bundles" / "b.yaml").write_text(BUNDLE, "utf-8")
    project, problems = load_project(tmp_path)
    assert project is not None, problems
    store = SQLiteStore(tmp_path / "journal.db")
    await store.open()
    bundle = project.bundles[0]
    event = NewEvent(
        "shop",
        "chat_finished",
        "k1",
        b'{"event_name": "chat_finished"}',
        1.0,
        runs=(NewRun(bundle.name, "lane", bundle.version_hash),),
    )
    await store.accept(event)
    claimed = await store.claim("test", now=2.0, lease=60)
    await store.finish_run(claimed[0].id, "test", status="failed", ran_hash=None, error="boom")
    app = web.Application()
    setup_ui(app, lambda _app: Journal(store, project), environ={"JIVOCRM_ADMIN_TOKEN": TOKEN})

    async def close(_app: web.Application) -> None:
        await store.close()

    app.on_cleanup.append(close)
    return await aiohttp_client(app)
