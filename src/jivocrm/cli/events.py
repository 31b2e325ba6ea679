"""``jivocrm events explain|list``: the answer to "the integration is connected but nothing
appears in the CRM".

``explain`` puts two verdicts side by side for every bundle: what intake recorded when the event
arrived (the run and how it ended, or why the bundle did not match), and what the project as it is
NOW would decide — so a user who has just fixed a filter sees that the next event will run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import FORMAT, OK, echo_json, finish, guarded
from jivocrm.engine.events import parse_event
from jivocrm.engine.matching import match
from jivocrm.engine.model import Project
from jivocrm.errors import JivoCRMError
from jivocrm.redaction import journal_redactor
from jivocrm.store.base import EventDetail, Run, Store


def _run_verdict(run: Run, steps: list[dict[str, Any]]) -> str:
    if run.status == "failed":
        failed = next((s for s in reversed(steps) if s["status"] == "failed"), None)
        where = f" at step {failed['step_id']}" if failed else ""
        return f"ran: run {run.id} failed{where}: {run.error or 'no error recorded'}"
    if run.status == "paused":
        return f"held: run {run.id} waits until the bundle is enabled"
    return f"ran: run {run.id} {run.status}"


def _current(project: Project, detail: EventDetail) -> dict[str, dict[str, Any]]:
    """What the project as it is now decides for this event, per bundle."""
    try:
        event = parse_event(detail.event.payload(), region=project.region)
    except (ValueError, JivoCRMError) as exc:
        verdict = {"matched": False, "paused": False, "reason": f"unreadable event: {exc}"}
        return {b.name: verdict for b in project.bundles}
    channel = project.channels.get(detail.event.channel)
    return {
        m.bundle.name: {"matched": m.matched, "paused": m.paused, "reason": m.reason}
        for m in match(project, event, channel)
    }


async def explanation(store: Store, project: Project, event_id: int) -> dict[str, Any]:
    detail = await store.event_detail(event_id)
    if detail is None:
        raise JivoCRMError(f"no event {event_id} in the journal (pruned, or a wrong number?)")
    now = _current(project, detail)
    recorded: dict[str, dict[str, Any]] = {}
    for run in detail.runs:
        steps = [fmt_.step_json(s) for s in detail.steps.get(run.id, [])]
        recorded[run.bundle] = {
            "run": run.id,
            "status": run.status,
            "error": run.error,
            "verdict": _run_verdict(run, steps),
        }
    for bundle, reason in detail.not_matched:
        recorded.setdefault(bundle, {"run": None, "verdict": f"did not match: {reason}"})
    names = list(now) + [name for name in recorded if name not in now]
    bundles = [
        {"bundle": name, "at_intake": recorded.get(name), "now": now.get(name)} for name in names
    ]
    return {
        "event": fmt_.event_json(detail.event),
        "bundles": bundles,
        "summary": _summary(detail, bundles),
    }


def _summary(detail: EventDetail, bundles: list[dict[str, Any]]) -> str:
    if detail.event.status != "accepted":
        return f"the event was {detail.event.status} at intake: no bundle ran"
    if not detail.runs:
        return "no bundle matched this event at intake, so nothing was sent to the CRM"
    failed = [r for r in detail.runs if r.status == "failed"]
    if failed:
        ids = ", ".join(str(r.id) for r in failed)
        return f"{len(failed)} run(s) failed ({ids}): `jivocrm runs show RUN`, then `runs replay`"
    waiting = [r for r in detail.runs if r.status in ("queued", "running", "paused")]
    if waiting:
        return f"{len(waiting)} run(s) not finished yet"
    return "every run that matched succeeded"


def _now_text(now: dict[str, Any] | None) -> str:
    if now is None:
        return "no longer in the project"
    if now["matched"]:
        return "would run, but the bundle is paused" if now.get("paused") else "would run"
    return f"would not run: {now['reason']}"


def explain(project_path: Path, event_id: int, fmt: str) -> int:
    project = fmt_.load(project_path)

    async def query() -> dict[str, Any]:
        async with fmt_.opened_store(project) as store:
            return await explanation(store, project, event_id)

    data = journal_redactor(project).value(asyncio.run(query()))
    if fmt == "json":
        echo_json(data)
        return OK
    event = data["event"]
    out = fmt_.console()
    out.print(
        f"event {event['id']}: {event['name']} · channel {event['channel']} "
        f"(widget {event['widget_id'] or '—'}) · chat {event['chat_id'] or '—'} · "
        f"received {fmt_.when(event['received_at'])}",
        markup=False,
    )
    grid = fmt_.table("bundle", "when the event arrived", "with the project as it is now")
    for entry in data["bundles"]:
        intake = entry["at_intake"]
        grid.add_row(
            entry["bundle"],
            intake["verdict"] if intake else "not in the project then",
            _now_text(entry["now"]),
        )
    out.print(grid)
    out.print(data["summary"], markup=False)
    return OK


def list_events(
    project_path: Path, chat: str | None, channel: str | None, limit: int, fmt: str
) -> int:
    project = fmt_.load(project_path)

    async def query() -> list[dict[str, Any]]:
        async with fmt_.opened_store(project) as store:
            events = await store.list_events(chat_id=chat, channel=channel, limit=limit)
            rows = []
            for event in events:
                detail = await store.event_detail(event.id)
                runs = detail.runs if detail else []
                rows.append(
                    {
                        **fmt_.event_json(event),
                        "runs": [
                            {"id": r.id, "bundle": r.bundle, "status": r.status} for r in runs
                        ],
                        "not_matched": len(detail.not_matched) if detail else 0,
                    }
                )
            return rows

    rows = journal_redactor(project).value(asyncio.run(query()))
    if fmt == "json":
        echo_json(rows)
        return OK
    out = fmt_.console()
    if not rows:
        out.print("No events. `jivocrm channels` shows whether Jivo delivers to this daemon.")
        return OK
    grid = fmt_.table("event", "received", "type", "channel", "chat", "runs", "not matched")
    for row in rows:
        runs = ", ".join(f"{r['id']} {r['bundle']} {r['status']}" for r in row["runs"])
        grid.add_row(
            str(row["id"]),
            fmt_.when(row["received_at"]),
            row["name"],
            row["channel"],
            row["chat_id"] or "—",
            runs or "none",
            str(row["not_matched"]),
        )
    out.print(grid)
    out.print("`jivocrm events explain EVENT` says why each bundle ran or did not.")
    return OK


@click.group("events")
def command() -> None:
    """Received Jivo events and why each bundle ran on them or did not."""


@command.command("explain")
@click.argument("event_id", metavar="EVENT", type=int)
@fmt_.PROJECT
@FORMAT
def explain_command(event_id: int, project: Path, fmt: str) -> None:
    """For one event: every bundle, whether it ran and how it ended, or why it did not run
    (event type, channel, the filter condition that failed with the actual value, paused)."""
    finish(guarded(lambda: explain(project, event_id, fmt)))


@command.command("list")
@fmt_.PROJECT
@click.option("--chat", help="Only events of this Jivo chat id.")
@click.option("--channel", help="Only events from this channel (its name).")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@FORMAT
def list_command(
    project: Path, chat: str | None, channel: str | None, limit: int, fmt: str
) -> None:
    """Received events, newest first, with the runs each one started."""
    finish(guarded(lambda: list_events(project, chat, channel, limit, fmt)))
