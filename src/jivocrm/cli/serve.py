"""``jivocrm serve [PATH]``: the daemon Jivo posts webhooks to.

Refuses an invalid project (the diagnostics, exit 1). SIGTERM/SIGINT stop it gracefully (exit 0),
SIGHUP reloads the project, ``--watch`` reloads it when its files change.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click
import structlog
from aiohttp import web

from jivocrm.cli import banner
from jivocrm.cli.common import OK, USER_ERROR, finish, guarded
from jivocrm.core.diagnostics import render
from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import _
from jivocrm.core.logs import Redactor, configure
from jivocrm.engine.envvars import resolve
from jivocrm.engine.model import Project
from jivocrm.engine.project import load_project

log = structlog.get_logger("jivocrm.serve")


def bind_address(project: Project, host: str | None, port: int | None) -> tuple[str, int]:
    """The options win over the project; the project's port may be a ``${VAR}`` reference."""
    chosen_port = port if port is not None else project.server.port
    try:
        number = int(str(resolve(chosen_port, project.environ)))
    except ValueError:
        raise JivoCRMError(f"server.port {chosen_port!r} is not a port number") from None
    return host or project.server.host, number


async def run_daemon(
    project: Project,
    path: Path,
    *,
    host: str | None = None,
    port: int | None = None,
    watch: bool = False,
    workers: int | None = None,
    lease: float | None = None,
    redactor: Redactor | None = None,
    started: Callable[[web.Application, str], None] | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT; ``started(app, base_url)`` is called once listening."""
    from jivocrm.server.app import DAEMON, LISTENER, create_app
    from jivocrm.server.listener import KEEPALIVE, LINGER
    from jivocrm.server.reload import reload
    from jivocrm.server.reload import watch as watch_files
    from jivocrm.server.workers import LEASE

    address = bind_address(project, host, port)
    from jivocrm.server.ui import setup_ui

    app = create_app(project, workers=workers, redactor=redactor, lease=lease or LEASE)
    # The journal pages under /ui (loopback clients, or the admin token).
    setup_ui(app, environ=project.environ)
    # Requests still open when the listener closes get until the reply deadline to finish.
    grace = project.server.reply_timeout + 1.0
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=grace,
        handle_signals=False,
        keepalive_timeout=KEEPALIVE,
        lingering_time=LINGER,
    )
    try:
        await runner.setup()
        # A connection gets server.header_timeout for its first request's headers.
        site = app[LISTENER].site(runner, address[0], address[1])
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    url = f"http://{bound[0]}:{bound[1]}"
    daemon = app[DAEMON]
    log.info(
        "server_started",
        url=url,
        channels=len(project.channels),
        bundles=len(project.bundles),
        workers=workers or project.server.workers,
    )
    if started is not None:
        started(app, url)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    background: set[asyncio.Task[Any]] = set()

    def spawn(coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        background.add(task)
        task.add_done_callback(background.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: spawn(reload(daemon, path)))
    if watch:
        spawn(watch_files(daemon, path))
    try:
        await stop.wait()
    finally:
        log.info("server_stopping")
        daemon.accepting = False
        # A second Ctrl-C forces the exit; a repeated SIGTERM (service managers send them) does
        # not cut the graceful shutdown short.
        for sig in (signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        for task in background:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*background, return_exceptions=True)
        await runner.cleanup()
        log.info("server_stopped")
    return OK


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run`` on uvloop where it is installed: aiohttp answers a request on it in
    about two thirds of the CPU time."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - no uvloop on Windows
        return asyncio.run(main)
    return uvloop.run(main)


def serve(
    path: Path,
    host: str | None,
    port: int | None,
    watch: bool,
    workers: int | None,
    log_level: str,
    lease: float | None = None,
) -> int:
    project, problems = load_project(path)
    if project is None:
        click.echo(render(problems, "text"), err=True)
        click.echo(_("the project is invalid; jivocrm serve refuses to start"), err=True)
        return USER_ERROR
    # On a terminal the banner comes first: the start-up log lines wait for it.
    held = banner.HeldStream(sys.stderr) if banner.on_terminal() else None
    redactor = configure(Redactor(), level=log_level, stream=held)

    def started(app: web.Application, url: str) -> None:
        if held is not None:
            click.echo("\n".join(banner.for_app(project, app, url)), err=True)
            held.release()

    try:
        return run_loop(
            run_daemon(
                project,
                path,
                host=host,
                port=port,
                watch=watch,
                workers=workers,
                lease=lease,
                redactor=redactor,
                started=started,
            )
        )
    finally:
        if held is not None:
            held.release()


@click.command("serve")
@click.argument("path", type=click.Path(path_type=Path), default=Path("."))
@click.option("--host", help="Address to listen on (default: server.host, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default: server.port).")
@click.option("--watch", is_flag=True, help="Reload when the project's files change.")
@click.option("--workers", type=click.IntRange(1, 256), help="Runs executed at once.")
@click.option(
    "--lease",
    type=click.FloatRange(1, 3600),
    help="Seconds a claimed run stays this instance's without a heartbeat; after that another "
    "instance takes it over (default 60).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def command(
    path: Path,
    host: str | None,
    port: int | None,
    watch: bool,
    workers: int | None,
    lease: float | None,
    log_level: str,
) -> None:
    """Run the daemon: receive Jivo webhooks, run the bundles, answer Jivo."""
    finish(guarded(lambda: serve(path, host, port, watch, workers, log_level, lease)))
