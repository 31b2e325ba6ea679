"""What the daemon holds while it runs: the store, the connections, and the current project view.

``ProjectView`` is the unit a reload swaps: the project, its channel tokens resolved, the runner
built on it. Requests and runs read ``daemon.view`` once and keep that snapshot, so a reload never
shows them half of one project and half of another.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from jivocrm.core.logs import Redactor
from jivocrm.engine.addresses import public_address
from jivocrm.engine.envvars import resolve
from jivocrm.engine.model import Channel, Project
from jivocrm.engine.runner import Runner
from jivocrm.engine.secrets import secret_values
from jivocrm.server.metrics import Metrics
from jivocrm.server.reply import ReplyWaiters
from jivocrm.store.base import Store, new_owner

if TYPE_CHECKING:
    import aiohttp

    from jivocrm.engine.connections import Connections
    from jivocrm.server.refusals import RefusalRecorder
    from jivocrm.store.base import Run


class Alerts(Protocol):
    """What the daemon's parts tell the alerting (``server.notify.Notifier``)."""

    def run_failed(self, run: Run, error: str, *, lane_held: bool = False) -> None: ...

    def channel_refused(self, channel: str, reason: str) -> None: ...

    def channel_delivered(self, channel: str) -> None: ...


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
    notifier: Alerts | None = None
    refusals: RefusalRecorder | None = None

    @property
    def project(self) -> Project:
        return self.view.project


__all__ = ["Alerts", "Daemon", "ProjectView", "build_view"]
