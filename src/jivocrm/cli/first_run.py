"""``make run``: the example project under ``bundles/`` served on the built-in CRM emulators.

No CRM account and no secrets needed: the example's connections say ``emulate: true``, and when
``JIVO_SHOP_TOKEN`` is unset a development token is put in the environment (and printed). Then the
daemon starts, and this prints the webhook URL and how to post a sample event to it.

    python -m jivocrm.cli.first_run [PROJECT_DIR]
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import click
from aiohttp import web

from jivocrm.cli.common import USER_ERROR, guarded
from jivocrm.engine.diagnostics import render
from jivocrm.engine.envvars import references
from jivocrm.engine.model import Project
from jivocrm.engine.project import load_project
from jivocrm.logs import Redactor, configure

DEV_TOKEN = "dev-shop-token"  # development only; a real channel's token is a long random string

SAMPLE = {
    "event_name": "chat_accepted",
    "chat_id": 58213,
    "widget_id": "aB3dE5fGh7",
    "visitor": {
        "name": "Анна Смирнова",
        "email": "anna.smirnova@mail.ru",
        "phone": "+79161234567",
        "number": "10482",
    },
    "agent": {"id": "412587", "name": "Ольга Петрова", "email": "o.petrova@shop-example.ru"},
    "page": {"url": "https://shop-example.ru/catalog/", "title": "Каталог"},
}


def development_tokens(project: Project) -> dict[str, str]:
    """A value for every unset variable a channel token names (the example's one token)."""
    chosen: dict[str, str] = {}
    for channel in project.channels.values():
        for name in references(channel.token):
            if not os.environ.get(name):
                chosen[name] = DEV_TOKEN if not chosen else f"{DEV_TOKEN}-{len(chosen) + 1}"
    return chosen


def free_port(host: str, wanted: int) -> int:
    """``wanted`` when it is free (8080 usually is), else any free port."""
    with socket.socket() as probe:
        try:
            probe.bind((host, wanted))
            return wanted
        except OSError:
            probe.bind((host, 0))
            port: int = probe.getsockname()[1]
            return port


def write_sample(project: Project) -> Path:
    folder = project.root / ".jivocrm"
    folder.mkdir(exist_ok=True)
    path = folder / "sample-chat-accepted.json"
    widget = next(iter(project.channels.values())).widget_id if project.channels else None
    path.write_text(json.dumps({**SAMPLE, "widget_id": widget}, ensure_ascii=False, indent=2))
    return path


def announce(
    project: Project, sample: Path, tokens: dict[str, str]
) -> Callable[[web.Application, str], None]:
    def started(app: web.Application, url: str) -> None:
        from jivocrm.engine.envvars import resolve
        from jivocrm.server.app import emulator_urls

        lines = ["", "jivocrm is running on the example project (Ctrl-C stops it).", ""]
        for name, value in tokens.items():
            lines.append(f"  development token: {name}={value}  (export your own to change it)")
        for channel in project.channels.values():
            token = resolve(channel.token, os.environ)
            lines.append(f"  webhook URL of channel {channel.name}: {url}/jivo/{token}")
        for name, emulator in emulator_urls(app).items():
            lines.append(f"  CRM emulator {name}: {emulator}/_emulator/state")
        webhook = f"{url}/jivo/{resolve(next(iter(project.channels.values())).token, os.environ)}"
        lines += [
            "",
            "Post a sample chat_accepted event from another terminal:",
            f"  .venv/bin/jivocrm send {sample} --url {webhook}",
            "The reply carries crm_link, the 'open in CRM' button Jivo shows to the operator.",
            f"Health: {url}/healthz   Metrics: {url}/metrics",
            "",
        ]
        click.echo("\n".join(lines))

    return started


def first_run(path: Path) -> int:
    project, problems = load_project(path)
    if project is None:
        click.echo(render(problems, "text"), err=True)
        click.echo(f"the example project in {path} is invalid; fix it first", err=True)
        return USER_ERROR
    tokens = development_tokens(project)
    os.environ.update(tokens)
    sample = write_sample(project)
    from jivocrm.cli.serve import bind_address, run_daemon

    host, wanted = bind_address(project, None, None)
    port = free_port(host, wanted)
    redactor = configure(Redactor(), level="info")

    return asyncio.run(
        run_daemon(
            project,
            path,
            port=port,
            redactor=redactor,
            started=announce(project, sample, tokens),
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path("bundles")
    return guarded(lambda: first_run(path))


if __name__ == "__main__":
    sys.exit(main())
