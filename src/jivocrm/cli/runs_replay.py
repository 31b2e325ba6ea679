"""``jivocrm runs replay``: run journaled runs again, as new runs linked to the originals."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import FORMAT, OK, USAGE, USER_ERROR, echo_json, finish, guarded
from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import Text, _, localized
from jivocrm.core.logs import configure
from jivocrm.engine.model import Project
from jivocrm.engine.versions import version_of
from jivocrm.journal.redaction import journal_redactor
from jivocrm.journal.replay import (
    Plan,
    daemon_listening,
    execute_here,
    failed_runs,
    original_bundle,
    plan_replay,
    wait_ended,
)
from jivocrm.journal.views import status_text
from jivocrm.store.base import UNFINISHED, Run, Store
from jivocrm.store.journal import resume_state


async def _plans(
    store: Store,
    project: Project,
    run_ids: tuple[int, ...],
    failed: bool,
    options: dict[str, Any],
) -> tuple[list[Plan], list[str]]:
    notes: list[str] = []
    runs: list[Run] = []
    if failed:
        runs, skipped = await failed_runs(
            store, bundle=options["bundle"], since=fmt_.parse_when(options["since"])
        )
        if skipped:
            notes.append(Text("{count} failed run(s) skipped: already replayed", count=skipped))
    found = {r.id: r for r in await store.get_runs(run_ids)} if run_ids else {}
    for run_id in run_ids:
        if run_id not in found:
            raise JivoCRMError(
                Text("no run {run} in the journal (pruned, or a wrong number?)", run=run_id)
            )
        runs.append(found[run_id])
    plans = []
    for run in runs:
        original = None
        current = project.bundle(run.bundle)
        if options["config"] == "original" and current and current.version_hash != run.version_hash:
            original = await original_bundle(store, project, run)
        plans.append(
            plan_replay(
                project,
                run,
                from_start=options["from_start"],
                config=options["config"],
                force=options["force"],
                original=original,
            )
        )
    return plans, notes


async def _first_step(store: Store, plan: Plan) -> str:
    """Where the replay starts: the first step of the bundle without a finished result."""
    assert plan.bundle is not None
    done = {} if plan.from_start else resume_state(await store.steps(plan.run.id))[0]
    todo = [s.id for s in plan.bundle.steps if s.id not in done]
    if not todo:
        return Text("nothing left to run")
    if done:
        return Text("from step {step}, keeping {kept}", step=todo[0], kept=", ".join(done))
    return Text("from step {step}", step=todo[0])


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Progress]:
    """A bar on stderr for bulk replays, only on a terminal: stdout stays the report."""
    bar = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        disable=total < 2 or not sys.stderr.isatty(),
        transient=True,
    )
    with bar:
        yield bar


async def replay(
    project: Project, run_ids: tuple[int, ...], failed: bool, options: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The replays done (or, with ``dry_run``, planned) and notes for the reader."""
    async with fmt_.opened_store(project) as store:
        plans, notes = await _plans(store, project, run_ids, failed, options)
        results: list[dict[str, Any]] = []
        todo: list[tuple[Plan, int]] = []
        for plan in plans:
            entry: dict[str, Any] = {"run": plan.run.id, "bundle": plan.run.bundle}
            results.append(entry)
            if plan.refused:
                entry.update(status="refused", reason=plan.refused)
                continue
            entry["start"] = await _first_step(store, plan)
            if plan.note:
                entry["note"] = plan.note
            if options["dry_run"]:
                entry["status"] = "would replay"
                continue
            assert plan.bundle is not None
            new_id = await store.replay(
                plan.run.id,
                from_start=plan.from_start,
                version_hash=plan.bundle.version_hash,
                version=version_of(plan.bundle),
                pinned=plan.pinned,
            )
            entry.update(replay=new_id, status="queued")
            todo.append((plan, new_id))
        if not todo:
            return results, notes
        ended = await _execute(store, project, [new_id for _, new_id in todo], options, notes)
        for entry in results:
            run = ended.get(entry.get("replay", -1))
            if run is not None:
                entry.update(status=run.status, error=run.error)
        return results, notes


async def _execute(
    store: Store, project: Project, ids: list[int], options: dict[str, Any], notes: list[str]
) -> dict[int, Run]:
    mode = options["execute"]
    daemon = await daemon_listening(project) if mode == "auto" else None
    if mode == "daemon" or daemon:
        notes.append(
            Text("queued for the daemon at {url}", url=daemon)
            if daemon
            else Text("queued for the daemon")
        )
        if not options["wait"]:
            notes.append(Text("the result: `jivocrm runs show REPLAY`, or replay with --wait"))
            return {}
        runs = await wait_ended(store, ids, options["timeout"])
        return {r.id: r for r in runs}
    # Runs executed here log like the daemon's, but to stderr and only warnings: stdout is the
    # report (``--format json`` is parsed), and secrets stay masked.
    configure(journal_redactor(project), level="warning", stream=sys.stderr)
    with _progress(len(ids)) as bar:
        task = bar.add_task("replay", total=len(ids))
        runs = await execute_here(store, project, ids, lambda _id, _run: bar.advance(task))
    waiting = [r.id for r in runs if r.status in UNFINISHED]
    if waiting:
        notes.append(
            Text(
                "still queued (an earlier run of the same chat goes first, or a retriable error): "
                "{runs}",
                runs=", ".join(map(str, waiting)),
            )
        )
    return {r.id: r for r in runs}


def _echo(results: list[dict[str, Any]], notes: list[str]) -> None:
    out = fmt_.console()
    grid = fmt_.table(_("run"), _("bundle"), _("replay"), _("status"), _("detail"))
    for entry in results:
        detail = localized(entry.get("reason") or entry.get("error") or entry.get("start") or "")
        if entry.get("note"):
            detail = f"{detail} ({localized(entry['note'])})"
        grid.add_row(
            str(entry["run"]),
            entry["bundle"],
            str(entry.get("replay", "—")),
            localized(status_text(entry["status"])),
            detail,
        )
    out.print(grid)
    for note in notes:
        out.print(localized(note), markup=False)


def run_replay(
    project_path: Path, run_ids: tuple[int, ...], failed: bool, options: dict[str, Any], fmt: str
) -> int:
    if bool(run_ids) == failed:
        click.echo(_("error: name the runs to replay, or give --failed (not both)"), err=True)
        return USAGE
    if (options["bundle"] or options["since"]) and not failed:
        click.echo(_("error: --bundle and --since select runs for --failed only"), err=True)
        return USAGE
    project = fmt_.load(project_path)
    results, notes = asyncio.run(replay(project, run_ids, failed, options))
    if fmt == "json":
        echo_json({"replays": results, "notes": notes})
    elif results:
        _echo(results, notes)
    else:
        click.echo(_("Nothing to replay.") + "".join(f" {localized(n)}." for n in notes))
    bad = {"refused", "failed"}
    return USER_ERROR if any(r["status"] in bad for r in results) else OK


@click.command("replay")
@click.argument("run_ids", metavar="[RUN]...", nargs=-1, type=click.IntRange(1, 2**63 - 1))
@fmt_.PROJECT
@click.option("--failed", is_flag=True, help="Every failed run not replayed yet.")
@click.option("--bundle", help="With --failed: only this bundle.")
@click.option("--since", help="With --failed: runs created since (2h, 3d, 2024-05-01).")
@click.option("--from-start", is_flag=True, help="Run every step again (default: resume).")
@click.option(
    "--config",
    type=click.Choice(["current", "original"]),
    default="current",
    show_default=True,
    help="Bundle version: the project's now, or the one the run was accepted under (kept in the"
    " store).",
)
@click.option("--force", is_flag=True, help="Also replay runs that succeeded.")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; change nothing.")
@click.option(
    "--execute",
    type=click.Choice(["auto", "daemon", "here"]),
    default="auto",
    show_default=True,
    help="Who runs the replays: the daemon if one answers (auto), the daemon, or this process.",
)
@click.option("--wait", is_flag=True, help="With the daemon: wait until the replays end.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="For --wait, s.")
@FORMAT
def replay_command(
    run_ids: tuple[int, ...], project: Path, failed: bool, fmt: str, **options: Any
) -> None:
    """Run journaled runs again; each replay is a new run linked to its original.

    By default a replay resumes at the step that failed: steps that finished are kept and never
    sent to the CRM again. --from-start runs every step (duplicate checks still apply).

    Who executes it: when a daemon answers at the project's server address, the replay is
    queued in the journal and the daemon runs it (--wait to see the result); with no daemon,
    this command runs it here with the project's connections. Retriable errors leave the
    replay queued for the daemon's next attempt.
    """
    finish(guarded(lambda: run_replay(project, run_ids, failed, options, fmt)))
