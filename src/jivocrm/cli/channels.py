"""``jivocrm channels``: per channel, the webhook URL to paste into Jivo, the bundles that serve
it and when its last event arrived. A channel that never delivered is the usual cause of
"the integration is connected but nothing appears in the CRM".

The token is part of the URL and is a secret: masked unless ``--show-token`` (the command exists
to hand the URL to its owner, so it can print it — on request, never by default).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import click

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import FORMAT, OK, echo_json, finish, guarded
from jivocrm.core.i18n import N_, Text, _, localized
from jivocrm.engine.model import Project
from jivocrm.journal.channels import MASKED, Deliveries, channel_rows

WHERE = N_("Jivo: Manage → Channels → Settings → Integration settings for developers")


def warnings(project: Project, rows: list[dict[str, Any]], seen: Deliveries) -> list[str]:
    found: list[str] = []
    for row in rows:
        if row["last_event_at"] is None:
            found.append(
                Text(
                    "channel {channel} has never delivered an event: check the webhook URL"
                    " in {where}, and that Jivo can reach it",
                    channel=row["channel"],
                    where=Text(WHERE),
                )
            )
        if not row["bundles"]:
            found.append(
                Text(
                    "channel {channel}: no bundle serves it, its events do nothing",
                    channel=row["channel"],
                )
            )
    if not project.server.public_url:
        found.append(
            Text(
                "server.public_url is not set: the URLs above are local; Jivo needs the https"
                " address it reaches this daemon at"
            )
        )
    found.extend(
        Text("events arrive for {name}, which is not a channel of the project", name=repr(name))
        for name in seen.last_event
        if name not in project.channels
    )
    unknown = sum(c.count for c in seen.unknown_tokens)
    if unknown:
        remotes = ", ".join(c.remote for c in seen.unknown_tokens[:3])
        found.append(
            Text(
                "{count} request(s) with a token of no channel (from {remotes}): a Jivo channel"
                " still posts to an old webhook URL, or someone guesses; `jivocrm events list"
                " --refused` shows the refused deliveries",
                count=unknown,
                remotes=remotes,
            )
        )
    return found


def channels(project_path: Path, show_token: bool, fmt: str) -> int:
    project = fmt_.with_channels(project_path)
    seen = asyncio.run(fmt_.last_events(project))
    rows = channel_rows(project, seen, project.environ, show_token)
    notes = warnings(project, rows, seen)
    if fmt == "json":
        echo_json({"channels": rows, "warnings": notes})
        return OK
    out = fmt_.console()
    grid = fmt_.table(
        _("channel"), _("widget"), _("webhook URL"), _("bundles"), _("last event"), _("refused")
    )
    now = time.time()
    for row in rows:
        last = row["last_refusal"]
        refused = (
            _("{count}, last {ago}").format(
                count=row["refused"], ago=fmt_.ago(last["received_at"], now)
            )
            if last
            else _("none")
        )
        grid.add_row(
            row["channel"],
            row["widget_id"],
            row["webhook_url"],
            ", ".join(row["bundles"]) or _("none"),
            fmt_.ago(row["last_event_at"], now),
            refused if row["refused"] else _("none"),
        )
    out.print(grid)
    out.print(_("Paste the URL into {where}.").format(where=_(WHERE)), markup=False)
    if not show_token and any(MASKED in r["webhook_url"] for r in rows):
        out.print(_("The token is masked: --show-token prints the full URL."))
    for note in notes:
        out.print(_("warning: {note}").format(note=localized(note)), markup=False)
    return OK


SHOW_TOKEN = click.option(
    "--show-token", is_flag=True, help="Print the webhook URL with its secret token."
)


@click.group("channels", invoke_without_command=True)
@fmt_.PROJECT
@SHOW_TOKEN
@FORMAT
@click.pass_context
def command(ctx: click.Context, project: Path, show_token: bool, fmt: str) -> None:
    """Each Jivo channel: its webhook URL, the bundles serving it, its last event."""
    if ctx.invoked_subcommand is None:
        finish(guarded(lambda: channels(project, show_token, fmt)))


@command.command("check")
@fmt_.PROJECT
@SHOW_TOKEN
@FORMAT
def check_command(project: Path, show_token: bool, fmt: str) -> None:
    """The Jivo side of the set-up: the URL Jivo must have, whether it reaches this daemon,
    when Jivo last delivered, and what to do in Jivo when it never did."""
    from jivocrm.cli.channels_check import check

    finish(guarded(lambda: check(project, show_token, fmt)))
