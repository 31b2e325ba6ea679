"""``jivocrm send EVENT.json``: post a Jivo event to a running daemon and print its answer.

The help desk's "send yourself a test message" step, without Jivo: the body goes out byte for
byte as the file holds it. Without ``--url`` the address comes from the project: its server
address and the token of a channel (the first one unless ``--channel`` names another).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import aiohttp
import click

from jivocrm.cli.common import OK, USER_ERROR, finish, guarded
from jivocrm.engine.envvars import resolve
from jivocrm.engine.project import load_project
from jivocrm.errors import JivoCRMError, ProjectError


def webhook_url(project_path: Path, channel: str | None) -> str:
    project, problems = load_project(project_path)
    if project is None:
        raise ProjectError(problems)
    if not project.channels:
        raise JivoCRMError("the project has no channels; add one under `channels:`")
    name = channel or next(iter(project.channels))
    found = project.channels.get(name)
    if found is None:
        raise JivoCRMError(f"no channel {name!r}; the project has {', '.join(project.channels)}")
    token = resolve(found.token, os.environ)
    host = project.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # listening everywhere: reach it on this machine
    port = resolve(project.server.port, os.environ)
    return f"http://{host}:{port}/jivo/{token}"


async def post(url: str, body: bytes, seconds: float) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as resp,
    ):
        return resp.status, await resp.text()


def send(event: Path, url: str | None, project: Path, channel: str | None, timeout: float) -> int:
    target = url or webhook_url(project, channel)
    body = event.read_bytes()
    try:
        status, text = asyncio.run(post(target, body, timeout))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise JivoCRMError(
            f"cannot reach the daemon ({exc or type(exc).__name__}); is `jivocrm serve` running?"
        ) from None
    try:
        shown = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        shown = text
    click.echo(shown)
    if status != 200:
        click.echo(f"the daemon answered HTTP {status}", err=True)
        return USER_ERROR
    return OK


@click.command("send")
@click.argument("event", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", help="The webhook URL (default: built from the project).")
@click.option(
    "--project",
    type=click.Path(exists=True, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project whose server and channel make the URL.",
)
@click.option("--channel", help="The channel whose token to use (default: the first).")
@click.option("--timeout", type=float, default=30.0, show_default=True)
def command(
    event: Path, url: str | None, project: Path, channel: str | None, timeout: float
) -> None:
    """Post a Jivo event (a JSON file) to the daemon and print its reply."""
    finish(guarded(lambda: send(event, url, project, channel, timeout)))
