"""``jivocrm notify test``: send a test message to every alert channel of the project (webhook,
e-mail, Telegram) and say, for each, whether it arrived or what to fix — before the first real
failure needs them."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import click

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import FORMAT, OK, USER_ERROR, echo_json, finish, guarded
from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import Text, _, localized
from jivocrm.server.alert_senders import AlertNotSent, resolved_targets, senders
from jivocrm.server.alerts import Message


def test_message() -> Message:
    """English for the webhook's JSON, the reader's language for Telegram and e-mail."""
    host = socket.gethostname()
    title = Text("jivocrm: test alert")
    text = Text("A test message from jivocrm on {host}: alerts reach this channel.", host=host)
    data = {"alert": "test", "host": host}
    return Message(title, text, data, localized(title), localized(text))


async def send_all(targets: dict[str, object], patience: float) -> dict[str, str | None]:
    async with aiohttp.ClientSession() as session:
        results: dict[str, str | None] = {}
        for sender in senders(session, targets, patience):
            try:
                await sender.send(test_message())
                results[sender.name] = None
            except AlertNotSent as exc:
                results[sender.name] = exc.args[0] if exc.args else str(exc)
        return results


def notify_test(project_path: Path, fmt: str) -> int:
    project = fmt_.load(project_path)
    targets = resolved_targets(project.notify, project.environ)
    if not targets:
        raise JivoCRMError(
            Text(
                "the project has no alert channel: add notify.webhook_url, notify.email or"
                " notify.telegram to jivocrm.yaml (docs/operating.md, Alerts)"
            )
        )
    results = asyncio.run(send_all(targets, project.notify.timeout))
    if fmt == "json":
        echo_json(
            {name: {"sent": error is None, "error": error} for name, error in results.items()}
        )
    else:
        for name, error in results.items():
            sent = _("{channel}: sent").format(channel=name)
            click.echo(f"✓ {sent}" if error is None else f"✗ {name}: {localized(error)}")
    return USER_ERROR if any(results.values()) else OK


@click.group("notify")
def command() -> None:
    """The alert channels: send a test message to each."""


@command.command("test")
@fmt_.PROJECT
@FORMAT
def test_command(project: Path, fmt: str) -> None:
    """Send a test message to every alert channel and say whether each arrived."""
    finish(guarded(lambda: notify_test(project, fmt)))
