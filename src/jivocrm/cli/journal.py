"""``jivocrm journal prune``: delete old events with their runs and step records, and give the
disk space back (the daemon does the same by itself, see ``journal_retention``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import click

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import FORMAT, OK, echo_json, finish, guarded
from jivocrm.core.i18n import _
from jivocrm.engine.model import Project
from jivocrm.journal.retention import Retention, retention_of
from jivocrm.journal.retention import prune as prune_journal
from jivocrm.store import store_path


def disk_size(project: Project) -> int | None:
    """Bytes the SQLite journal takes (its file and write-ahead log); None for other stores."""
    if not project.store.startswith("sqlite:///"):
        return None
    path = store_path(project.store, project.root)
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


def prune(project_path: Path, older_than: str | None, keep: int | None, fmt: str) -> int:
    project = fmt_.load(project_path)
    now = time.time()
    if older_than is None and keep is None:
        retention = retention_of(project, now)  # the project's own limits
    else:
        cutoff = now - fmt_.parse_duration(older_than) if older_than else None
        retention = Retention(cutoff, keep)
    if not retention.active:
        click.echo(_("Nothing to do: the project keeps every event (journal.retention_days: 0)."))
        return OK

    async def work() -> tuple[int, int | None, int | None]:
        async with fmt_.opened_store(project) as store:
            before = disk_size(project)
            deleted = await prune_journal(store, retention)
        return deleted, before, disk_size(project)

    deleted, before, after = asyncio.run(work())
    data: dict[str, Any] = {
        "deleted_events": deleted,
        "older_than": retention.older_than,
        "keep": retention.keep,
        "bytes_before": before,
        "bytes_after": after,
    }
    if fmt == "json":
        echo_json(data)
        return OK
    rule = []
    if retention.older_than is not None:
        rule.append(_("received before {when}").format(when=fmt_.when(retention.older_than)))
    if retention.keep is not None:
        rule.append(_("beyond the newest {count}").format(count=retention.keep))
    which = (
        _("{first} or {second}").format(first=rule[0], second=rule[1])
        if len(rule) == 2
        else "".join(rule)
    )
    click.echo(
        _("Deleted {count} event(s) {which}, with their runs and steps.").format(
            count=deleted, which=which
        )
    )
    if before is not None and after is not None:
        click.echo(
            _("Journal size: {before} before, {after} after.").format(
                before=fmt_.size(before), after=fmt_.size(after)
            )
        )
    return OK


@click.group("journal")
def command() -> None:
    """Look after the journal: prune old events."""


@command.command("prune")
@fmt_.PROJECT
@click.option("--older-than", help="Delete events received longer ago than this: 30d, 12h, 2w.")
@click.option("--keep", type=click.IntRange(0), help="Keep only the newest N events.")
@FORMAT
def prune_command(project: Path, older_than: str | None, keep: int | None, fmt: str) -> None:
    """Delete finished events (with their runs and step records) and give the disk space back.

    Without options it applies the project's journal.retention_days and journal.max_events.
    Events with a run still queued, running or paused are always kept.
    """
    finish(guarded(lambda: prune(project, older_than, keep, fmt)))
