"""``jivocrm runs list|show|replay``: the history of bundle runs from the journal.

``list`` filters like the web page does; ``show`` is one run in full — the event, the bundle
version, every step with its rendered input, the CRM requests and answers, output, error, attempts
and timings — with secrets (and, when the project asks, phones and e-mails) masked.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import FORMAT, OK, echo_json, finish, guarded
from jivocrm.cli.runs_replay import replay_command
from jivocrm.core.i18n import _, localized
from jivocrm.core.logs import Redactor
from jivocrm.journal.redaction import journal_redactor
from jivocrm.journal.views import run_data, run_json, status_text, visitor_of
from jivocrm.store.base import Run, RunFilter

STATUSES = ["queued", "running", "paused", "succeeded", "failed"]

BODY_SHOWN = 400  # characters of a CRM request/answer body without --full


# ---- list -------------------------------------------------------------------------------------
def list_runs(project_path: Path, flt: RunFilter, fmt: str) -> int:
    project = fmt_.load(project_path)

    async def query() -> list[Run]:
        async with fmt_.opened_store(project) as store:
            return await store.list_runs(flt)

    runs = asyncio.run(query())
    if fmt == "json":
        echo_json([run_json(r) for r in runs])
        return OK
    out = fmt_.console()
    if not runs:
        out.print(_("No runs match. `jivocrm events list` shows events that started none."))
        return OK
    out.print(fmt_.run_rows(runs))
    if len(runs) == flt.limit:
        out.print(_("(the newest {limit}; --limit shows more)").format(limit=flt.limit))
    return OK


# ---- show -------------------------------------------------------------------------------------
# Each clause of a line is a sentence part of its own, translated whole.
def _body(value: Any, full: bool) -> str:
    if full:
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return fmt_.short(value, BODY_SHOWN)


def _version_line(bundle: dict[str, Any]) -> str:
    line = _("bundle {name}, version {version}").format(
        name=bundle["name"], version=bundle["version"]
    )
    if bundle["ran_version"] and bundle["ran_version"] != bundle["version"]:
        line += _(" (ran with {version})").format(version=bundle["ran_version"])
    current = bundle["current_version"]
    if current is None:
        line += _("; no longer in the project")
    elif current != (bundle["ran_version"] or bundle["version"]):
        line += _("; the project now has version {version}").format(version=current)
    return line


def _event_lines(event: dict[str, Any] | None) -> list[str]:
    if event is None:
        return [_("event: pruned from the journal")]
    visitor = visitor_of(event) or {}
    who = ", ".join(v for v in visitor.values() if v)
    return [
        _("event {id}: {name} · channel {channel} · chat {chat} · received {received}").format(
            id=event["id"],
            name=event["name"],
            channel=event["channel"],
            chat=event["chat_id"] or "—",
            received=fmt_.when(event["received_at"]),
        ),
        _("visitor: {who}").format(who=who or "—"),
    ]


def _diff_lines(data: dict[str, Any]) -> list[str]:
    bundle = data["bundle"]
    if "diff" not in data:
        changed = bundle["current_version"] not in (None, bundle["version"])
        if changed and bundle["version_kept"]:
            return [
                _("`jivocrm runs show {run} --diff` prints what changed since").format(
                    run=data["run"]["id"]
                )
            ]
        return []
    if data["diff"] is None:
        return [
            _("version {version} is not kept in the store: no diff to show").format(
                version=bundle["version"]
            )
        ]
    if not data["diff"]:
        return [_("the bundle has not changed since this run")]
    text: str = data["diff"]
    return text.rstrip("\n").split("\n")


def show_text(data: dict[str, Any], full: bool) -> list[str]:
    run = data["run"]
    head = _("run {id}: {status}, attempt {attempt}").format(
        id=run["id"], status=_status(run["status"]), attempt=run["attempt"]
    )
    if run["replay_of"]:
        head += _(", replay of run {run}").format(run=run["replay_of"])
    if run.get("pinned"):
        head += _(", with its recorded bundle version {version}").format(
            version=run["version_hash"]
        )
    lines = [head, *_event_lines(data["event"]), _version_line(data["bundle"])]
    lines.extend(_diff_lines(data))
    lines.append(
        _("created {created}, updated {updated}").format(
            created=fmt_.when(run["created_at"]), updated=fmt_.when(run["updated_at"])
        )
    )
    if data["replays"]:
        replays = ", ".join(str(i) for i in data["replays"])
        lines.append(_("replayed as run {runs}").format(runs=replays))
    if run["error"]:
        lines.append(_("error: {error}").format(error=localized(run["error"])))
    for step in data["steps"]:
        kept = step["started_at"] < run["created_at"]
        lines.append("")
        said = _("step {id}: {status}, attempt {attempt}, {duration}").format(
            id=step["step_id"],
            status=_status(step["status"]),
            attempt=step["attempt"],
            duration=fmt_.duration(step["duration_s"]),
        )
        lines.append(f"{said} {_('(kept from the original run)')}" if kept else said)
        lines.append("  " + _("input:  {value}").format(value=_body(step["input"], full)))
        if step["output"]:
            lines.append("  " + _("output: {value}").format(value=_body(step["output"], full)))
        for text in (step["message"], step["error"]):
            if text:
                lines.append(f"  {localized(text)}")
        for call in step["calls"]:
            answer = call.get("status") or call.get("error") or _("no answer")
            lines.append(
                "  "
                + _("→ {method} {url} — {answer}, {ms} ms, try {attempt}").format(
                    method=call["method"],
                    url=call["url"],
                    answer=answer,
                    ms=f"{call.get('duration_ms', 0):.0f}",
                    attempt=call.get("attempt", 1),
                )
            )
            lines.append(
                "      " + _("request:  {value}").format(value=_body(call.get("request"), full))
            )
            lines.append(
                "      " + _("response: {value}").format(value=_body(call.get("response"), full))
            )
    if not data["steps"]:
        lines.append(_("no step has run yet"))
    return lines


def _status(status: str) -> str:
    return localized(status_text(status))


def show_run(project_path: Path, run_id: int, full: bool, fmt: str, diff: bool = False) -> int:
    project = fmt_.load(project_path)

    async def query() -> dict[str, Any]:
        async with fmt_.opened_store(project) as store:
            return await run_data(store, project, run_id, with_diff=diff)

    redactor: Redactor = journal_redactor(project)
    data = redactor.value(asyncio.run(query()))
    if fmt == "json":
        echo_json(data)
    else:
        out = fmt_.console()
        for line in show_text(data, full):
            out.print(line, markup=False, soft_wrap=True)
    return OK


# ---- click ------------------------------------------------------------------------------------
@click.group("runs")
def command() -> None:
    """The history of bundle runs: list, show one, replay."""


@command.command("list")
@fmt_.PROJECT
@click.option("--bundle", help="Only this bundle.")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs in this state.")
@click.option("--chat", help="Only runs of this Jivo chat id.")
@click.option("--channel", help="Only runs of events from this channel (its name).")
@click.option("--event", "event_name", help="Only runs of this event type (chat_finished…).")
@click.option("--since", help="Created at or after: 2h, 3d, 2024-05-01, 2024-05-01T14:30.")
@click.option("--until", help="Created before (same forms as --since).")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@FORMAT
def list_command(
    project: Path,
    bundle: str | None,
    status: str | None,
    chat: str | None,
    channel: str | None,
    event_name: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Runs, newest first."""

    def body() -> int:
        flt = RunFilter(
            bundle=bundle,
            status=status,
            chat_id=chat,
            channel=channel,
            event_name=event_name,
            since=fmt_.parse_when(since),
            until=fmt_.parse_when(until),
            limit=limit,
        )
        return list_runs(project, flt, fmt)

    finish(guarded(body))


@command.command("show")
@click.argument("run_id", metavar="RUN", type=click.IntRange(1, 2**63 - 1))
@fmt_.PROJECT
@click.option("--full", is_flag=True, help="Print CRM requests and answers whole.")
@click.option(
    "--diff", is_flag=True, help="Print the changes from the run's bundle version to the current."
)
@FORMAT
def show_command(run_id: int, project: Path, full: bool, diff: bool, fmt: str) -> None:
    """One run: its event, bundle version, and every step with its CRM calls."""
    finish(guarded(lambda: show_run(project, run_id, full, fmt, diff)))


command.add_command(replay_command)
