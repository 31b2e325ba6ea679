"""What the daemon holds while it runs: the store, the connections, and the current project view.

``ProjectView`` is the unit a reload swaps: the project, its channel tokens resolved, the runner
built on it. Requests and runs read ``daemon.view`` once and keep that snapshot, so a reload never
shows them half of one project and half of another.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jivocrm.engine.envvars import references, resolve
from jivocrm.engine.model import Channel, Project
from jivocrm.engine.runner import Runner
from jivocrm.logs import Redactor
from jivocrm.server.metrics import Metrics
from jivocrm.server.reply import ReplyWaiters
from jivocrm.store.base import Store

if TYPE_CHECKING:
    import aiohttp

    from jivocrm.engine.connections import Connections
    from jivocrm.server.notify import Notifier
    from jivocrm.server.refusals import RefusalRecorder
    from jivocrm.server.workers import WorkerPool


@dataclass(frozen=True)
class ProjectView:
    project: Project
    tokens: tuple[tuple[bytes, Channel], ...]  # resolved token → channel
    runner: Runner
    secrets: frozenset[str]
    notify_targets: Mapping[str, Any]  # webhook_url, email, telegram: resolved
    public_url: str  # where people reach the daemon (links in alerts)


def build_view(
    project: Project, connections: Connections, environ: Mapping[str, str]
) -> ProjectView:
    """Resolve what the daemon needs from the environment; raises ``MissingVariable``."""
    from jivocrm.journal_replay import public_address
    from jivocrm.server.alert_senders import resolved_targets

    tokens = tuple(
        (str(resolve(channel.token, environ)).encode(), channel)
        for channel in project.channels.values()
    )
    return ProjectView(
        project=project,
        tokens=tokens,
        runner=Runner(project, connections, connections.caches),
        secrets=frozenset(secret_values(project, environ)),
        notify_targets=resolved_targets(project.notify, environ),
        public_url=public_address(project, environ),
    )


def secret_values(project: Project, environ: Mapping[str, str]) -> set[str]:
    """Values that must never reach a log line: every ``${VAR}`` used by channels, connections
    and notify (validate demands references for secrets, so that is where they come from)."""
    found: set[str] = set()
    sections = [project.raw.get(k) for k in ("channels", "connections", "notify")]

    def walk(value: object) -> None:
        if isinstance(value, str):
            for name in references(value):
                if environ.get(name):
                    found.add(environ[name])
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(sections)
    for channel in project.channels.values():
        try:
            found.add(str(resolve(channel.token, environ)))
        except Exception:  # an unresolved token is reported where the view is built
            continue
    return found


def new_owner() -> str:
    """A lease owner id: host and pid (to tell a dead process on this host), plus a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Daemon:
    view: ProjectView
    store: Store
    session: aiohttp.ClientSession
    connections: Connections
    environ: Mapping[str, str]
    redactor: Redactor
    owner: str = field(default_factory=new_owner)
    # Told by /healthz, so `jivocrm channels check` can tell this daemon from another one.
    instance: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    metrics: Metrics = field(default_factory=Metrics)
    waiters: ReplyWaiters = field(default_factory=ReplyWaiters)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    accepting: bool = True
    pool: WorkerPool | None = None
    notifier: Notifier | None = None
    refusals: RefusalRecorder | None = None

    @property
    def project(self) -> Project:
        return self.view.project


__all__ = ["Daemon", "ProjectView", "build_view", "new_owner", "secret_values"]
