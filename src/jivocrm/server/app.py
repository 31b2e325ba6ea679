"""``create_app``: the daemon as an aiohttp application, one ``cleanup_ctx`` per resource.

Start-up order: store → HTTP session → connections (emulators included) → workers. Teardown is
the reverse, which is the graceful shutdown order: the listener is already closed
by ``AppRunner.cleanup`` (stop accepting), then workers stop claiming, in-flight steps finish up
to ``server.shutdown_timeout`` and the rest is released, then sessions and the store close.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping

import aiohttp
import structlog
from aiohttp import web

from jivocrm.core.errors import StoreError
from jivocrm.core.logs import Redactor
from jivocrm.engine.connections import Connections, SharesLimits, open_connections, shared_limiters
from jivocrm.engine.envvars import resolve
from jivocrm.engine.model import Project
from jivocrm.server.intake import receive
from jivocrm.server.listener import Listener
from jivocrm.server.metrics import unavailable
from jivocrm.server.notify import Notifier
from jivocrm.server.refusals import RefusalRecorder
from jivocrm.server.reload import sync_paused
from jivocrm.server.state import Daemon, build_view
from jivocrm.server.workers import LEASE, WorkerPool
from jivocrm.store import Store, open_store

RETENTION_FIRST = 60.0  # seconds after start: not in the way of the start-up backlog
RETENTION_EVERY = 3600.0
log = structlog.get_logger("jivocrm.server")

DAEMON = web.AppKey("daemon", Daemon)
STORE = web.AppKey("store", Store)
SESSION = web.AppKey("session", aiohttp.ClientSession)
CONNECTIONS = web.AppKey("connections", Connections)
LISTENER = web.AppKey("listener", Listener)
WORKERS = web.AppKey("workers", WorkerPool)


def create_app(
    project: Project,
    *,
    environ: Mapping[str, str] | None = None,
    workers: int | None = None,
    redactor: Redactor | None = None,
    lease: float = LEASE,
    start_workers: bool = True,
) -> web.Application:
    """The daemon for ``project``; nothing starts until the app is set up by a runner.

    ``environ`` (default: the project's, with its ``.env``) resolves the ``${VAR}`` references."""
    if environ is None:
        environ = project.environ
    listener = Listener(project.server.header_timeout)
    app = web.Application(
        client_max_size=project.server.body_limit, middlewares=[listener.middleware]
    )
    app[LISTENER] = listener

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        url = str(resolve(project.store, environ))
        store = open_store(url, project.root)
        await store.open()
        app[STORE] = store
        yield
        await store.close()

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            yield

    async def connections_ctx(app: web.Application) -> AsyncIterator[None]:
        store = app[STORE]
        # A shared store (PostgreSQL) holds each connection's rate limit for every instance.
        # A shared store (PostgreSQL) also holds the OAuth tokens, refreshed under its lock.
        shared = store if isinstance(store, SharesLimits) else None
        async with open_connections(
            project,
            app[SESSION],
            environ=environ,
            state_dir=project.root / ".jivocrm",
            limiters=shared_limiters(shared, project) if shared else None,
            token_store=shared.token_store() if shared else None,
        ) as connections:
            if shared:  # and the people being created, so two instances make one contact
                for name, cache in connections.caches.items():
                    cache.claims = shared.person_claims(name)
            app[CONNECTIONS] = connections
            view = build_view(project, connections, environ)
            red = redactor or Redactor()
            red.update(view.secrets, project.journal.redact_personal_data)
            app[DAEMON] = Daemon(view, app[STORE], app[SESSION], connections, environ, red)
            yield

    async def refusals_ctx(app: web.Application) -> AsyncIterator[None]:
        daemon = app[DAEMON]
        daemon.refusals = RefusalRecorder(daemon.store, daemon.redactor)
        task = asyncio.create_task(daemon.refusals.run(), name="jivocrm-refusals")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await daemon.refusals.stop()  # the listener is closed: nothing more comes in

    async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
        notifier = Notifier(app[DAEMON])
        app[DAEMON].notifier = notifier
        task = asyncio.create_task(notifier.run(), name="jivocrm-notifier")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await notifier.stop()  # after the workers: their last failures go out too

    async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
        daemon = app[DAEMON]
        await sync_paused(daemon, project)
        pool = WorkerPool(daemon, workers or project.server.workers, lease)
        app[WORKERS] = pool
        if start_workers:
            await pool.start()
        yield
        daemon.accepting = False
        if start_workers:
            await pool.stop(daemon.project.server.shutdown_timeout)

    async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(keep_retention(app[DAEMON]), name="jivocrm-retention")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.extend(
        [
            store_ctx,
            session_ctx,
            connections_ctx,
            refusals_ctx,
            notifier_ctx,
            workers_ctx,
            retention_ctx,
        ]
    )
    app.router.add_post("/jivo/{token}", intake)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def keep_retention(daemon: Daemon) -> None:
    """Apply ``journal.retention_days`` / ``max_events`` now and then, with the project of the
    moment (a reload may change them). Hourly: each pass that deletes ends with a VACUUM,
    which holds the writer for as long as the database takes to copy."""
    from jivocrm.journal.retention import apply_retention

    await asyncio.sleep(RETENTION_FIRST)
    while True:
        try:
            await apply_retention(daemon.store, daemon.project, time.time())
        except StoreError as exc:
            log.error("retention_failed", error=str(exc))
        await asyncio.sleep(RETENTION_EVERY)


async def intake(request: web.Request) -> web.StreamResponse:
    return await receive(request.app[DAEMON], request)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "instance": request.app[DAEMON].instance})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the store answers and can write (a full disk is not ready). Connections are
    reported, not required: while a CRM is down intake must keep accepting (runs wait in the
    queue), so a load balancer should keep us."""
    daemon = request.app[DAEMON]
    body: dict[str, object] = {
        "store": "ok",
        "accepting": daemon.accepting,
        "connections": {
            name: "unavailable" if unavailable(c) else "ok"
            for name, c in daemon.connections.items()
        },
    }
    status = 200 if daemon.accepting else 503
    try:
        await daemon.store.ping()
    except StoreError as exc:
        body["store"] = f"error: {exc}"
        status = 503
    return web.json_response(body, status=status)


async def metrics(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    daemon.metrics.lane_hold_limit.set(daemon.project.retry.max_lane_hold or 0)
    try:
        text = await daemon.metrics.render(daemon.store, daemon.connections)
    except StoreError as exc:
        return web.Response(status=503, text=f"store unavailable: {exc}\n")
    return web.Response(body=text, content_type="text/plain", charset="utf-8")


def emulator_urls(app: web.Application) -> dict[str, str]:
    """Connection name → URL of its in-process emulator (``emulate: true``)."""
    return {name: e.url for name, e in app[CONNECTIONS].emulators.items()}


__all__ = [
    "CONNECTIONS",
    "DAEMON",
    "LISTENER",
    "SESSION",
    "STORE",
    "WORKERS",
    "create_app",
    "emulator_urls",
]
