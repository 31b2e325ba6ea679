"""The project's connections opened as connectors, with emulators for ``emulate: true``.

``open_connections`` resolves each connection's ``${ENV}`` references, starts the built-in
emulator of the CRM in-process (127.0.0.1, a free port) where the connection asks for one, and
builds the connectors through the registry. Everything it started stops when the block ends.
The caller owns the ``aiohttp.ClientSession``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import structlog
from aiohttp import web

from jivocrm.connectors.base import Connector
from jivocrm.connectors.cache import ConnectionCache
from jivocrm.engine.envvars import resolve
from jivocrm.engine.model import Project

if TYPE_CHECKING:
    import aiohttp

    from jivocrm.connectors.ratelimit import RateLimiter
    from jivocrm.connectors.tokens import TokenStore
    from jivocrm.core.claims import PersonClaims

log = structlog.get_logger("jivocrm.connections")


@dataclass
class Emulator:
    url: str
    app: web.Application


class Connections(dict[str, Connector]):
    """Connector by connection name, plus the cache and (if any) the emulator of each."""

    def __init__(self) -> None:
        super().__init__()
        self.caches: dict[str, ConnectionCache] = {}
        self.emulators: dict[str, Emulator] = {}


async def _serve(app: web.Application, stack: contextlib.AsyncExitStack) -> str:
    runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


def _without_rate_limit(config: dict[str, Any], fast: bool) -> dict[str, Any]:
    if not fast:
        return config
    # Bundle tests switch the emulator's own limit off too; then the client needs no pacing.
    return {**config, "rate_limit": {"rate": 1000, "burst": 1000}}


@contextlib.asynccontextmanager
async def open_connections(
    project: Project,
    session: aiohttp.ClientSession,
    *,
    environ: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    limiters: Mapping[str, RateLimiter] | None = None,
    token_store: TokenStore | None = None,
    seeds: Mapping[str, Path] | None = None,
    fast_emulators: bool = False,
) -> AsyncIterator[Connections]:
    """Connectors of every connection of ``project``; emulators run until the block ends."""
    from jivocrm.connectors import CONNECTORS
    from jivocrm.connectors.spec import ConnectionContext

    opened = Connections()
    async with contextlib.AsyncExitStack() as stack:
        for name, connection in project.connections.items():
            spec = CONNECTORS[connection.type]
            config: dict[str, Any] = dict(connection.config)
            emulator_url = None
            if connection.emulate:
                seed = (seeds or {}).get(name)
                if seed is None and config.get("seed"):
                    seed = project.root / str(config["seed"])
                app = spec.emulator(seed)
                emulator_url = await _serve(app, stack)
                opened.emulators[name] = Emulator(emulator_url, app)
                config = _without_rate_limit(spec.emulator_config(config), fast_emulators)
                log.info("emulator_started", connection=name, url=emulator_url)
            else:
                config = resolve(config, project.environ if environ is None else environ)
            ctx = ConnectionContext(
                name=name,
                session=session,
                limiter=(limiters or {}).get(name),
                token_store=token_store,
                state_dir=state_dir or project.root / ".jivocrm",
                emulator_url=emulator_url,
            )
            opened[name] = spec.build(config, ctx)
            opened.caches[name] = ConnectionCache(name)
        _preload(project, opened)
        yield opened


def _preload(project: Project, opened: Connections) -> None:
    """Seed the caches from the metadata snapshot, so the first runs cost no metadata calls.

    A name missing from the snapshot still triggers one refresh from the CRM (ConnectionCache),
    so a stale snapshot costs a call, never a wrong id. Emulated connections keep their own seed.
    """
    path = project.metadata_path
    if path is None or not path.exists():
        return
    from jivocrm.engine import snapshot

    saved, problems = snapshot.read(path)
    if saved is None:
        log.warning("snapshot_unreadable", file=str(path), problems=len(problems))
        return
    for name, cache in opened.caches.items():
        connection = project.connections[name]
        entry = saved.get(name)
        if entry is not None and entry.type == connection.type and not connection.emulate:
            cache.preload(entry.metadata())
            log.info("metadata_preloaded", connection=name, pipelines=len(entry.pipelines))


@runtime_checkable
class SharesLimits(Protocol):
    """A store that keeps rate limits and OAuth tokens shared by every daemon instance on it."""

    def rate_limiter(self, name: str, *, interval: float, burst: int = 1) -> RateLimiter: ...

    def token_store(self) -> TokenStore: ...

    def person_claims(self, connection: str) -> PersonClaims: ...


def shared_limiters(store: SharesLimits, project: Project) -> dict[str, RateLimiter]:
    """A limiter shared by every instance for each connection of ``project``, paced as the CRM
    of the connection says (``ConnectorSpec.shared_limit``) at the connection's own rate."""
    from jivocrm.connectors import CONNECTORS

    limiters: dict[str, RateLimiter] = {}
    for name, connection in project.connections.items():
        spec = CONNECTORS[connection.type]
        limits = connection.config.get("rate_limit") or {}
        rate = float(limits.get("rate", spec.default_rate[0]))
        burst = int(limits.get("burst", spec.default_rate[1]))
        interval, shared_burst = spec.shared_limit(rate, burst)
        limiters[name] = store.rate_limiter(name, interval=interval, burst=shared_burst)
    return limiters


__all__ = ["Connections", "Emulator", "SharesLimits", "open_connections", "shared_limiters"]
