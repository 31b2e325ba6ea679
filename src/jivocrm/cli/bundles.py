"""``jivocrm bundles list|pause|resume``: pause a bundle without a commit, and see what holds it.

A bundle is held by its file (``enabled: false``, kept in git) or at run time (``pause``, kept in
the store and, on PostgreSQL, seen by every instance). Either way its events wait as paused runs;
``resume`` queues them again and they run in lane order (one chat's events in arrival order).
"""

from __future__ import annotations

import asyncio
import getpass
import socket
import time
from pathlib import Path
from typing import Any

import click

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import FORMAT, OK, echo_json, finish, guarded
from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import _
from jivocrm.engine.model import Bundle, Project
from jivocrm.engine.schema_errors import did_you_mean
from jivocrm.journal.views import bundle_rows
from jivocrm.store.base import Store


def operator() -> str:
    """Who pauses: the user and host the command runs as (shown beside the hold)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "someone"
    return f"{user}@{socket.gethostname()}"


def named(project: Project, name: str) -> Bundle:
    bundle = project.bundle(name)
    if bundle is None:
        names = [b.name for b in project.bundles]
        hint = did_you_mean(name, names) or f"; the bundles are: {', '.join(names) or 'none'}"
        raise JivoCRMError(f"no bundle {name!r} in the project{hint}")
    return bundle


def held_text(row: dict[str, Any]) -> str:
    by = []
    if row["held_by_file"]:
        by.append(_("file (enabled: false)"))
    hold = row["hold"]
    if hold:
        when = fmt_.when(hold["held_at"])
        if hold["reason"]:
            by.append(
                _("runtime: {who}, {when}, {reason}").format(
                    who=hold["held_by"], when=when, reason=hold["reason"]
                )
            )
        else:
            by.append(_("runtime: {who}, {when}").format(who=hold["held_by"], when=when))
    if len(by) == 2:
        return _("held by {first} and {second}").format(first=by[0], second=by[1])
    return _("held by {holder}").format(holder=by[0]) if by else _("running")


def list_bundles(project_path: Path, fmt: str) -> int:
    project = fmt_.load(project_path)
    if fmt_.journal_missing(project):  # nothing held yet: no need to create the journal
        rows = asyncio.run(bundle_rows(None, project))
    else:
        rows = fmt_.query(project, lambda store: bundle_rows(store, project))
    if fmt == "json":
        echo_json(rows)
        return OK
    out = fmt_.console()
    grid = fmt_.table(
        _("bundle"), _("file"), _("event"), _("state"), _("paused runs"), _("queued runs")
    )
    for row in rows:
        grid.add_row(
            row["bundle"],
            row["file"] or "—",
            row["event"] or "—",
            held_text(row),
            str(row["paused_runs"]),
            str(row["queued_runs"]),
        )
    out.print(grid)
    if any(r["hold"] for r in rows):
        out.print(_("`jivocrm bundles resume NAME` runs the held events, in order."))
    return OK


def pause(project_path: Path, name: str, reason: str, fmt: str) -> int:
    project = fmt_.load(project_path)
    bundle = named(project, name)

    who = operator()
    paused = fmt_.query(
        project,
        lambda store: store.hold_bundle(bundle.name, by=who, reason=reason, at=time.time()),
        create=True,
    )
    if fmt == "json":
        echo_json({"bundle": bundle.name, "held": True, "runs_paused": paused})
        return OK
    click.echo(
        _(
            "Bundle {name} is paused: its events wait as paused runs"
            " ({count} queued run(s) paused now; a run already executing finishes)."
        ).format(name=repr(bundle.name), count=paused)
    )
    click.echo(_("`jivocrm bundles resume {name}` runs them, in order.").format(name=bundle.name))
    return OK


def resume(project_path: Path, name: str, fmt: str) -> int:
    project = fmt_.load(project_path)
    bundle = named(project, name)

    async def release(store: Store) -> tuple[bool, int]:
        held = any(h.bundle == bundle.name for h in await store.holds())
        return held, await store.release_bundle(bundle.name, requeue=bundle.enabled)

    held, queued = fmt_.query(project, release, create=True)
    if fmt == "json":
        data = {"bundle": bundle.name, "was_held": held, "runs_queued": queued}
        echo_json({**data, "held_by_file": not bundle.enabled})
        return OK
    if held:
        click.echo(
            _("Bundle {name} resumed: {count} held run(s) queued, in order.").format(
                name=repr(bundle.name), count=queued
            )
        )
    else:
        click.echo(
            _("Bundle {name} was not paused with `jivocrm bundles pause`.").format(
                name=repr(bundle.name)
            )
        )
    if not bundle.enabled:
        click.echo(
            _(
                "It is still paused by its file ({file}: enabled: false): set enabled: true"
                " and reload the daemon to run its events."
            ).format(file=bundle.file)
        )
    return OK


@click.group("bundles")
def command() -> None:
    """The project's bundles: which run and which are held; pause and resume without a commit."""


@command.command("list")
@fmt_.PROJECT
@FORMAT
def list_command(project: Path, fmt: str) -> None:
    """Every bundle, whether it is held (by its file or at run time) and its waiting runs."""
    finish(guarded(lambda: list_bundles(project, fmt)))


@command.command("pause")
@click.argument("name")
@fmt_.PROJECT
@click.option("--reason", default="", help="Why, shown beside the hold.")
@FORMAT
def pause_command(name: str, project: Path, reason: str, fmt: str) -> None:
    """Hold a bundle at run time: its events wait (durably) until `bundles resume`."""
    finish(guarded(lambda: pause(project, name, reason, fmt)))


@command.command("resume")
@click.argument("name")
@fmt_.PROJECT
@FORMAT
def resume_command(name: str, project: Path, fmt: str) -> None:
    """Release a runtime hold: the bundle's held events run, in lane order."""
    finish(guarded(lambda: resume(project, name, fmt)))
