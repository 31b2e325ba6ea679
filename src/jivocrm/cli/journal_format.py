"""What the journal commands share: opening the journal, time arguments, tables and JSON shapes.

Times on screen are local and to the second (people compare them with their chat app); JSON
carries Unix seconds as stored, so scripts need no parsing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich import box
from rich.console import Console
from rich.table import Table

from jivocrm.core.errors import JivoCRMError, ProjectError
from jivocrm.core.i18n import N_, _, localized
from jivocrm.core.logs import configure
from jivocrm.engine.envvars import resolve
from jivocrm.engine.model import Project
from jivocrm.engine.project import load_project
from jivocrm.journal.channels import Deliveries, deliveries
from jivocrm.journal.redaction import journal_redactor
from jivocrm.journal.views import parse_duration, parse_when, status_text
from jivocrm.store import open_store, store_path
from jivocrm.store.base import Run, Store

MAX_CELL = 60
T = TypeVar("T")

PROJECT = click.option(
    "--project",
    type=click.Path(exists=True, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project directory or its jivocrm.yaml.",
)


def load(path: Path) -> Project:
    project, problems = load_project(path)
    if project is None:
        raise ProjectError(problems)
    return project


def journal_missing(project: Project) -> bool:
    """True when the project's SQLite journal does not exist yet (nothing ever arrived)."""
    if not project.store.startswith("sqlite:///"):
        return False
    return not store_path(project.store, project.root).exists()


@contextlib.asynccontextmanager
async def opened_store(project: Project, *, create: bool = False) -> AsyncIterator[Store]:
    """The project's store, opened; a missing SQLite file is an error, not a new empty journal,
    unless ``create`` (a command that writes, such as ``bundles pause``, may come first)."""
    url = str(resolve(project.store, project.environ))
    if create:
        # A new store logs its migrations: to stderr, so stdout stays the command's report.
        configure(journal_redactor(project), level="warning", stream=sys.stderr)
    if url.startswith("sqlite:///") and not create:
        path = store_path(url, project.root)
        if not path.exists():
            raise JivoCRMError(
                f"no journal at {path}: it appears when `jivocrm serve` receives its first event"
            )
    store = open_store(url, project.root)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def query(project: Project, read: Callable[[Store], Awaitable[T]], *, create: bool = False) -> T:
    """``read`` on the project's store, opened for it and closed after (a command's one look)."""

    async def go() -> T:
        async with opened_store(project, create=create) as store:
            return await read(store)

    return asyncio.run(go())


# ---- text -------------------------------------------------------------------------------------
def when(ts: float | None) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return _("never")
    seconds = max(0.0, (time.time() if now is None else now) - ts)
    for unit, size in ((N_("{n}d ago"), 86400), (N_("{n}h ago"), 3600), (N_("{n}m ago"), 60)):
        if seconds >= size:
            return _(unit).format(n=int(seconds // size))
    return _("{n}s ago").format(n=int(seconds))


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    if seconds < 1:
        return _("{n} ms").format(n=f"{seconds * 1000:.0f}")
    if seconds < 120:
        return _("{n} s").format(n=f"{seconds:.1f}")
    return _("{n} min").format(n=f"{seconds / 60:.1f}")


def short(value: Any, limit: int = MAX_CELL) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def console() -> Console:
    """Colours only on a terminal; piped output gets a wide table instead of 80 columns."""
    tty = sys.stdout.isatty()
    return Console(highlight=False, width=None if tty else 160, no_color=not tty)


def table(*columns: str, title: str | None = None) -> Table:
    grid = Table(
        title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, show_edge=False
    )
    for name in columns:
        grid.add_column(name, overflow="fold")
    return grid


def run_rows(runs: Sequence[Run]) -> Table:
    grid = table(
        _("run"),
        _("created"),
        _("bundle"),
        _("event"),
        _("chat"),
        _("channel"),
        _("status"),
        _("error"),
    )
    for run in runs:
        status = localized(status_text(run.status))
        if run.replay_of:
            status += " " + _("(replay of {run})").format(run=run.replay_of)
        grid.add_row(
            str(run.id),
            when(run.created_at),
            run.bundle,
            f"{run.event_name or ''} #{run.event_id}",
            run.chat_id or "—",
            run.channel or "—",
            status,
            short(run.error or "", 50),
        )
    return grid


async def last_events(project: Project) -> Deliveries:
    if journal_missing(project):
        return Deliveries()  # no journal yet: nothing ever arrived
    async with opened_store(project) as store:
        return await deliveries(store)


def with_channels(project_path: Path) -> Project:
    project = load(project_path)
    if not project.channels:
        raise JivoCRMError("the project has no channels: add one under `channels:` in jivocrm.yaml")
    return project


__all__ = [
    "PROJECT",
    "ago",
    "console",
    "duration",
    "journal_missing",
    "last_events",
    "load",
    "opened_store",
    "parse_duration",
    "parse_when",
    "query",
    "run_rows",
    "short",
    "size",
    "table",
    "when",
    "with_channels",
]
