"""``jivocrm send EVENT.json | --sample NAME``: post a Jivo event to the daemon, print its reply.

The help desk's "send yourself a test message" step, without Jivo. A file goes out byte for byte
as it is; a sample (``jivocrm samples`` lists them) is one of the Jivo events shipped with
jivocrm, its ``widget_id`` set to the channel's when the project is known. Without ``--url`` the
address comes from the project: its server address and the token of a channel (the first one
unless ``--channel`` names another).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import click

from jivocrm.cli.common import OK, USER_ERROR, finish, guarded
from jivocrm.core.errors import JivoCRMError, ProjectError
from jivocrm.core.i18n import Text, _
from jivocrm.engine.envvars import resolve
from jivocrm.engine.model import Channel, Project
from jivocrm.engine.project import PROJECT_FILE, find_project_file, load_project


def project_at(path: Path) -> Project:
    if not find_project_file(path).is_file():
        where = path.resolve() if path.is_dir() else path.resolve().parent
        raise JivoCRMError(
            f"no {PROJECT_FILE} in {where}: run this in the project's folder, point at it with "
            "--project DIR, or give the daemon's webhook URL with --url"
        )
    project, problems = load_project(path)
    if project is None:
        raise ProjectError(problems)
    return project


def channel_of(project: Project, name: str | None) -> Channel:
    if not project.channels:
        raise JivoCRMError("the project has no channels; add one under `channels:`")
    found = project.channels.get(name or next(iter(project.channels)))
    if found is None:
        raise JivoCRMError(f"no channel {name!r}; the project has {', '.join(project.channels)}")
    return found


def webhook_url(project: Project, channel: Channel) -> str:
    token = resolve(channel.token, project.environ)
    host = project.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # listening everywhere: reach it on this machine
    port = resolve(project.server.port, project.environ)
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


def body_of(event: Path | None, sample: str | None, channel: Channel | None) -> bytes:
    if event is not None:
        return event.read_bytes()
    from jivocrm import samples

    data = samples.load(str(sample))
    if channel is not None:
        data["widget_id"] = channel.widget_id  # so the channel's bundles see it as theirs
    return json.dumps(data, ensure_ascii=False).encode()


def send(
    event: Path | None,
    sample: str | None,
    url: str | None,
    project_path: Path,
    channel_name: str | None,
    timeout: float,
) -> int:
    if (event is None) == (sample is None):
        raise JivoCRMError("give an EVENT.json file or --sample NAME (jivocrm samples lists them)")
    channel = None
    if url is None:
        project = project_at(project_path)
        channel = channel_of(project, channel_name)
        url = webhook_url(project, channel)
    body = body_of(event, sample, channel)
    try:
        status, text = asyncio.run(post(url, body, timeout))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise JivoCRMError(
            Text(
                "cannot reach the daemon at {url} ({error}); is `jivocrm serve` running?",
                url=url.rsplit("/jivo/", 1)[0],
                error=str(exc) or type(exc).__name__,
            )
        ) from None
    try:
        shown = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        shown = text
    click.echo(shown)
    if status != 200:
        click.echo(_("the daemon answered HTTP {status}").format(status=status), err=True)
        return USER_ERROR
    return OK


@click.command("send")
@click.argument(
    "event", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False
)
@click.option("--sample", help="Post a sample event shipped with jivocrm (see `jivocrm samples`).")
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
    event: Path | None,
    sample: str | None,
    url: str | None,
    project: Path,
    channel: str | None,
    timeout: float,
) -> None:
    """Post a Jivo event (a JSON file, or a shipped sample) to the daemon and print its reply."""
    finish(guarded(lambda: send(event, sample, url, project, channel, timeout)))
