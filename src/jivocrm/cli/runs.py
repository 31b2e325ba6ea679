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
from jivocrm.core.logs import Redactor
from jivocrm.journal.redaction import journal_redactor
from jivocrm.journal.views import run_data, run_json, visitor_of
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
        out.print("No runs match. `jivocrm events list` shows events that started none.")
        return OK
    out.print(fmt_.run_rows(runs))
    if len(runs) == flt.limit:
        out.print(f"(the newest {flt.limit}; --limit shows more)")
    return OK


# ---- show -------------------------------------------------------------------------------------
def _body(value: Any, full: bool) -> str:
    if full:
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return fmt_.short(value, BODY_SHOWN)


def _version_line(bundle: dict[str, Any]) -> str:
    line = f"bundle {bundle['name']}, version {bundle['version']}"
    if bundle["ran_version"] and bundle["ran_version"] != bundle["version"]:
        line += f" (ran with {bundle['ran_version']})"
    current = bundle["current_version"]
    if current is None:
        line += "; no longer in the project"
    elif current != (bundle["ran_version"] or bundle["version"]):
        line += f"; the project now has version {current}"
    return line


def _event_lines(event: dict[str, Any] | None) -> list[str]:
    if event is None:
        return ["event: pruned from the journal"]
    visitor = visitor_of(event) or {}
    who = ", ".join(v for v in visitor.values() if v)
    return [
        f"event {event['id']}: {event['name']} · channel {event['channel']} · "
        f"chat {event['chat_id'] or '—'} · received {fmt_.when(event['received_at'])}",
        f"visitor: {who or '—'}",
    ]


def _diff_lines(data: dict[str, Any]) -> list[str]:
    bundle = data["bundle"]
    if "diff" not in data:
        changed = bundle["current_version"] not in (None, bundle["version"])
        if changed and bundle["version_kept"]:
            return [f"`jivocrm runs show {data['run']['id']} --diff` prints what changed since"]
        return []
    if data["diff"] is None:
        return [f"version {bundle['version']} is not kept in the store: no diff to show"]
    if not data["diff"]:
        return ["the bundle has not changed since this run"]
    text: str = data["diff"]
    return text.rstrip("\n").split("\n")


def show_text(data: dict[str, Any], full: bool) -> list[str]:
    run = data["run"]
    head = f"run {run['id']}: {run['status']}, attempt {run['attempt']}"
    if run["replay_of"]:
        head += f", replay of run {run['replay_of']}"
    if run.get("pinned"):
        head += f", with its recorded bundle version {run['version_hash']}"
    lines = [head, *_event_lines(data["event"]), _version_line(data["bundle"])]
    lines.extend(_diff_lines(data))
    lines.append(f"created {fmt_.when(run['created_at'])}, updated {fmt_.when(run['updated_at'])}")
    if data["replays"]:
        lines.append("replayed as run " + ", ".join(str(i) for i in data["replays"]))
    if run["error"]:
        lines.append(f"error: {run['error']}")
    for step in data["steps"]:
        mark = "(kept from the original run)" if step["started_at"] < run["created_at"] else ""
        lines.append("")
        lines.append(
            f"step {step['step_id']}: {step['status']}, attempt {step['attempt']}, "
            f"{fmt_.duration(step['duration_s'])} {mark}".rstrip()
        )
        lines.append(f"  input:  {_body(step['input'], full)}")
        if step["output"]:
            lines.append(f"  output: {_body(step['output'], full)}")
        for text in (step["message"], step["error"]):
            if text:
                lines.append(f"  {text}")
        for call in step["calls"]:
            answer = call.get("status") or call.get("error") or "no answer"
            lines.append(
                f"  → {call['method']} {call['url']} — {answer}, "
                f"{call.get('duration_ms', 0):.0f} ms, try {call.get('attempt', 1)}"
            )
            lines.append(f"      request:  {_body(call.get('request'), full)}")
            lines.append(f"      response: {_body(call.get('response'), full)}")
    if not data["steps"]:
        lines.append("no step has run yet")
    return lines


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
