"""``jivocrm events explain|list``: the answer to "the integration is connected but nothing
appears in the CRM".

(The explanation itself is ``journal_views.explanation``, shared with the web page.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import FORMAT, OK, echo_json, finish, guarded
from jivocrm.core.i18n import _, localized
from jivocrm.journal.redaction import journal_redactor
from jivocrm.journal.views import event_json, explanation


def _now_text(now: dict[str, Any] | None) -> str:
    if now is None:
        return _("no longer in the project")
    if now["matched"]:
        return _("would run, but the bundle is paused") if now.get("paused") else _("would run")
    return _("would not run: {reason}").format(reason=localized(now["reason"]))


def explain(project_path: Path, event_id: int, fmt: str) -> int:
    project = fmt_.load(project_path)
    found = fmt_.query(project, lambda store: explanation(store, project, event_id))
    data = journal_redactor(project).value(found)
    if fmt == "json":
        echo_json(data)
        return OK
    event = data["event"]
    out = fmt_.console()
    out.print(
        _(
            "event {id}: {name} · channel {channel} (widget {widget}) · chat {chat} · "
            "received {received}"
        ).format(
            id=event["id"],
            name=event["name"],
            channel=event["channel"],
            widget=event["widget_id"] or "—",
            chat=event["chat_id"] or "—",
            received=fmt_.when(event["received_at"]),
        ),
        markup=False,
    )
    grid = fmt_.table(_("bundle"), _("when the event arrived"), _("with the project as it is now"))
    for entry in data["bundles"]:
        intake = entry["at_intake"]
        grid.add_row(
            entry["bundle"],
            localized(intake["verdict"]) if intake else _("not in the project then"),
            _now_text(entry["now"]),
        )
    out.print(grid)
    out.print(localized(data["summary"]), markup=False)
    return OK


def list_events(
    project_path: Path,
    chat: str | None,
    channel: str | None,
    matched: bool | None,
    limit: int,
    fmt: str,
) -> int:
    project = fmt_.load(project_path)

    async def query() -> list[dict[str, Any]]:
        async with fmt_.opened_store(project) as store:
            events = await store.list_events(
                chat_id=chat, channel=channel, matched=matched, limit=limit
            )
            rows = []
            for event in events:
                detail = await store.event_detail(event.id)
                runs = detail.runs if detail else []
                rows.append(
                    {
                        **event_json(event),
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
        out.print(
            _(
                "No events. `jivocrm channels check` shows whether Jivo delivers to this daemon;"
                " `jivocrm events list --refused` the deliveries it refused."
            )
        )
        return OK
    grid = fmt_.table(
        _("event"), _("received"), _("type"), _("channel"), _("chat"), _("runs"), _("not matched")
    )
    for row in rows:
        runs = ", ".join(f"{r['id']} {r['bundle']} {r['status']}" for r in row["runs"])
        grid.add_row(
            str(row["id"]),
            fmt_.when(row["received_at"]),
            row["name"],
            row["channel"],
            row["chat_id"] or "—",
            runs or _("none"),
            str(row["not_matched"]),
        )
    out.print(grid)
    out.print(_("`jivocrm events explain EVENT` says why each bundle ran or did not."))
    return OK


@click.group("events")
def command() -> None:
    """Received Jivo events and why each bundle ran on them or did not."""


@command.command("explain")
@click.argument("event_id", metavar="EVENT", type=click.IntRange(1, 2**63 - 1))
@fmt_.PROJECT
@click.option("--refused", is_flag=True, help="EVENT is a refused delivery's number.")
@FORMAT
def explain_command(event_id: int, project: Path, refused: bool, fmt: str) -> None:
    """For one event: every bundle, whether it ran and how it ended, or why it did not run
    (event type, channel, the filter condition that failed with the actual value, paused).
    With --refused: a delivery that was refused, and what to change."""
    if refused:
        from jivocrm.cli.events_refused import explain_refused

        finish(guarded(lambda: explain_refused(project, event_id, fmt)))
    finish(guarded(lambda: explain(project, event_id, fmt)))


@command.command("list")
@fmt_.PROJECT
@click.option("--chat", help="Only events of this Jivo chat id.")
@click.option("--channel", help="Only events from this channel (its name).")
@click.option(
    "--matched/--unmatched",
    default=None,
    help="Only events that started a run, or only those that started none.",
)
@click.option("--refused", is_flag=True, help="The refused deliveries instead (never events).")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@FORMAT
def list_command(
    project: Path,
    chat: str | None,
    channel: str | None,
    matched: bool | None,
    refused: bool,
    limit: int,
    fmt: str,
) -> None:
    """Received events, newest first, with the runs each one started."""
    if refused:
        from jivocrm.cli.events_refused import list_refused

        finish(guarded(lambda: list_refused(project, channel, limit, fmt)))
    finish(guarded(lambda: list_events(project, chat, channel, matched, limit, fmt)))
