"""``jivocrm run EVENT.json``: one event through the project, in-process, everything shown.

Which bundles matched and why the others did not, each step with its input, output and CRM
calls, then the reply Jivo would get. ``--dry-run`` sends no writes: reads go to the CRM, writes
are shown as what would be sent. Connections with ``emulate: true`` run on in-process emulators.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import aiohttp
import click
import structlog

from jivocrm.cli.common import FORMAT, OK, USER_ERROR, echo_json, finish, guarded
from jivocrm.core.errors import JivoCRMError, ProjectError
from jivocrm.core.i18n import _, localized
from jivocrm.core.records import StepRecord
from jivocrm.engine.connections import open_connections
from jivocrm.engine.process import EventReport, process_event
from jivocrm.engine.project import load_project
from jivocrm.journal.views import status_text

MAX_SHOWN = 400


def quiet_logs() -> None:
    """Logs to stderr, warnings and up: stdout is the report (``--format json`` is parsed)."""
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


def report_dict(report: EventReport) -> dict[str, Any]:
    runs = []
    for run in report.runs:
        entry: dict[str, Any] = {
            "bundle": run.match.bundle.name,
            "matched": run.match.matched,
            "paused": run.match.paused,
            "reason": run.match.reason,
            "lane": run.match.lane,
        }
        if run.note:
            entry["note"] = run.note
        if run.outcome is not None:
            entry["status"] = run.outcome.status
            entry["error"] = run.outcome.error
            entry["steps"] = [_record(r) for r in run.outcome.steps]
        runs.append(entry)
    return {"event": report.event.name, "bundles": runs, "reply": report.reply}


def _record(record: StepRecord) -> dict[str, Any]:
    return {
        "id": record.step_id,
        "status": record.status,
        "input": record.input,
        "output": record.output,
        "message": record.message,
        "error": record.error,
        "calls": record.calls,
        "would_send": record.would_send,
        "duration_ms": round((record.finished_at - record.started_at) * 1000, 1),
    }


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _call_line(call: dict[str, Any]) -> str:
    status = call.get("status") or call.get("error") or _("no answer")
    return f"      → {call['method']} {call['url']} — {localized(status)}"


def _mark(run: dict[str, Any]) -> str:
    if run["paused"]:
        return _("paused")
    return _("matched") if run["matched"] else _("not matched")


def echo_text(data: dict[str, Any]) -> None:
    click.echo(_("event: {event}").format(event=data["event"]))
    for run in data["bundles"]:
        said = _("bundle {bundle}: {mark} — {reason}").format(
            bundle=run["bundle"], mark=_mark(run), reason=localized(run["reason"])
        )
        click.echo("\n" + said)
        if run.get("note"):
            click.echo(f"  {localized(run['note'])}")
        if "status" not in run:
            continue
        status = localized(status_text(run["status"]))
        click.echo("  " + _("lane {lane}; run {status}").format(lane=run["lane"], status=status))
        for step in run["steps"]:
            click.echo(
                "  "
                + _("step {id}: {status} ({ms} ms)").format(
                    id=step["id"],
                    status=localized(status_text(step["status"])),
                    ms=step["duration_ms"],
                )
            )
            click.echo("    " + _("input:  {value}").format(value=_short(step["input"])))
            click.echo("    " + _("output: {value}").format(value=_short(step["output"])))
            for text in (step["message"], step["error"]):
                if text:
                    click.echo(f"    {localized(text)}")
            for call in step["calls"]:
                click.echo(_call_line(call))
            for write in step["would_send"]:
                click.echo(
                    "      "
                    + _("(dry run, not sent) {op}: {data}").format(
                        op=write["op"], data=_short(write["data"])
                    )
                )
        if run["error"]:
            click.echo("  " + _("error: {error}").format(error=localized(run["error"])))
    reply = json.dumps(data["reply"], ensure_ascii=False)
    click.echo("\n" + _("reply to Jivo: {reply}").format(reply=reply))


def load_inputs(project_path: Path, event_path: Path, bundle: str | None) -> tuple[Any, Any]:
    """The validated project and the decoded event, or an error saying what is wrong."""
    project, problems = load_project(project_path)
    if project is None:
        raise ProjectError(problems)
    if bundle is not None and project.bundle(bundle) is None:
        names = ", ".join(b.name for b in project.bundles)
        raise JivoCRMError(f"no bundle {bundle!r}; the project has {names}")
    try:
        payload = json.loads(event_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise JivoCRMError(f"{event_path}: not a JSON event ({exc})") from None
    return project, payload


async def run_event(
    project_path: Path, event_path: Path, bundle: str | None, dry_run: bool
) -> EventReport:
    project, payload = load_inputs(project_path, event_path, bundle)
    async with (
        aiohttp.ClientSession() as session,
        open_connections(project, session) as connectors,
    ):
        return await process_event(
            project, payload, connectors, connectors.caches, only=bundle, dry_run=dry_run
        )


def run(project: Path, event: Path, bundle: str | None, dry_run: bool, fmt: str) -> int:
    quiet_logs()
    report = asyncio.run(run_event(project, event, bundle, dry_run))
    data = report_dict(report)
    if fmt == "json":
        echo_json(data)
    else:
        echo_text(data)
    return OK if report.ok else USER_ERROR


@click.command("run")
@click.argument("event", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--project",
    type=click.Path(exists=True, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project directory or its jivocrm.yaml.",
)
@click.option("--bundle", help="Run only this bundle (the others are still explained).")
@click.option("--dry-run", is_flag=True, help="Read from the CRM but send no writes.")
@FORMAT
def command(event: Path, project: Path, bundle: str | None, dry_run: bool, fmt: str) -> None:
    """Run one Jivo event (a JSON file) through the project and show everything that happened."""
    finish(guarded(lambda: run(project, event, bundle, dry_run, fmt)))
