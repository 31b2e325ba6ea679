"""``make run``: the example project under ``bundles/`` served on the built-in CRM emulators.

No CRM account and no secrets needed: the example's connections say ``emulate: true``, and when
``JIVO_SHOP_TOKEN`` is unset (in the environment and in the project's ``.env``) a development
token is put in the environment (and printed). Then the daemon starts, and this prints the banner
of ``jivocrm serve`` and a ``jivocrm send`` line that posts a sample event to it.

    python -m jivocrm.cli.first_run [PROJECT_DIR]
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import click
from aiohttp import web

from jivocrm.cli import banner, language
from jivocrm.cli.common import USER_ERROR, guarded
from jivocrm.core import i18n
from jivocrm.core.diagnostics import render
from jivocrm.core.i18n import _
from jivocrm.core.logs import Redactor, configure
from jivocrm.engine.envvars import references
from jivocrm.engine.model import Project
from jivocrm.engine.project import load_project
from jivocrm.server.app import emulator_urls

DEV_TOKEN = "dev-shop-token"  # development only; a real channel's token is a long random string


def development_tokens(project: Project) -> dict[str, str]:
    """A value for every unset variable a channel token names (the example's one token)."""
    chosen: dict[str, str] = {}
    for channel in project.channels.values():
        for name in references(channel.token):
            if not project.environ.get(name):
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


def announce(
    project: Project, tokens: dict[str, str], held: banner.HeldStream
) -> Callable[[web.Application, str], None]:
    def started(app: web.Application, url: str) -> None:
        from jivocrm.engine.envvars import resolve

        lines = banner.for_app(project, app, url)
        for name, value in tokens.items():
            lines.append(
                _("  development token: {name}={value}  (export your own to change it)").format(
                    name=name, value=value
                )
            )
        channel = next(iter(project.channels.values()))
        webhook = f"{url}/jivo/{resolve(channel.token, project.environ)}"
        lines += [
            "",
            _("Post a sample chat_accepted event from another terminal, in this folder:"),
            f"  .venv/bin/jivocrm send --sample chat_accepted --url {webhook}",
            _("The reply carries crm_link, the 'open in CRM' button Jivo shows to the operator;"),
            _("the run is on {ui}, the records in each emulator's state:").format(ui=f"{url}/ui"),
            *(f"  {name}: {u}/_emulator/state" for name, u in emulator_urls(app).items()),
            "",
        ]
        click.echo("\n".join(lines), err=True)
        held.release()

    return started


def first_run(path: Path) -> int:
    project, problems = load_project(path)
    if project is None:
        click.echo(render(problems, "text"), err=True)
        click.echo(
            _("the example project in {path} is invalid; fix it first").format(path=path), err=True
        )
        return USER_ERROR
    tokens = development_tokens(project)
    os.environ.update(tokens)
    from jivocrm.cli.serve import bind_address, run_daemon

    host, wanted = bind_address(project, None, None)
    port = free_port(host, wanted)
    held = banner.HeldStream(sys.stderr)
    redactor = configure(Redactor(), level="info", stream=held)
    try:
        return asyncio.run(
            run_daemon(
                project, path, port=port, redactor=redactor, started=announce(project, tokens, held)
            )
        )
    finally:
        held.release()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path("bundles")
    i18n.set_language(language.choose(["--project", str(path)]))
    return guarded(lambda: first_run(path))


if __name__ == "__main__":
    sys.exit(main())
