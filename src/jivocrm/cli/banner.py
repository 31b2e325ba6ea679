"""What ``jivocrm serve`` (and ``make run``) print on a terminal once the daemon listens.

The channels with the webhook URL each one's Jivo channel must post to, the journal page, the
store and the connections. Only on a terminal: under a service manager or a pipe the daemon
writes its JSON logs and nothing else. On a terminal the start-up log lines are held back until
the banner is out, so the banner comes first and the logs follow it.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit, urlunsplit

from jivocrm.core.i18n import _
from jivocrm.engine.addresses import public_address
from jivocrm.engine.envvars import resolve_text
from jivocrm.engine.model import Project

if TYPE_CHECKING:
    from aiohttp import web


class HeldStream(io.StringIO):
    """A terminal stream that keeps what is written until ``release()``, then writes through."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self.held: list[str] | None = []

    def write(self, text: str) -> int:
        if self.held is None:
            self.target.write(text)
            self.target.flush()
        else:
            self.held.append(text)
        return len(text)

    def release(self) -> None:
        held, self.held = self.held, None
        if held:
            self.target.write("".join(held))
            self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()


def on_terminal() -> bool:
    return sys.stderr.isatty()


def public_base(project: Project, local: str) -> str:
    """The address Jivo reaches the daemon at: ``server.public_url``, else where it listens."""
    return public_address(project, project.environ) if project.server.public_url else local


def store_shown(url: str) -> str:
    """The store URL without a password."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def lines(project: Project, local: str, emulators: Mapping[str, str], store: str) -> list[str]:
    """The banner for ``project`` served at ``local`` (``http://host:port``)."""
    from jivocrm import __version__
    from jivocrm.connectors import CONNECTORS

    base = public_base(project, local)
    said = _("jivocrm {version} serving {file} (Ctrl-C stops it)")
    out = [said.format(version=__version__, file=project.file), ""]
    for channel in project.channels.values():
        missing: list[str] = []
        token = resolve_text(channel.token, project.environ, missing)
        line = _("channel {name} (widget {widget}): {url}").format(
            name=channel.name, widget=channel.widget_id, url=f"{base}/jivo/{token}"
        )
        out.append(f"  {line}")
    if not project.server.public_url:
        local_only = _(
            "these URLs are local; set server.public_url to the https address Jivo reaches"
        )
        out.append(f"    {local_only}")
    out.append("  " + _("journal: {url}").format(url=f"{local}/ui"))
    out.append(
        "  "
        + _("health: {health}   metrics: {metrics}").format(
            health=f"{local}/healthz", metrics=f"{local}/metrics"
        )
    )
    out.append("  " + _("store: {store}").format(store=store_shown(store)))
    for name, connection in project.connections.items():
        spec = CONNECTORS.get(connection.type)
        title = spec.title if spec else connection.type
        if name in emulators:
            line = _("connection {name}: {crm}, built-in emulator at {url}").format(
                name=name, crm=title, url=emulators[name]
            )
        else:
            line = _("connection {name}: {crm}, the account").format(name=name, crm=title)
        out.append(f"  {line}")
    out.append("")
    return out


def for_app(project: Project, app: web.Application, local: str) -> list[str]:
    """The banner of a daemon app that listens at ``local``."""
    from jivocrm.engine.envvars import resolve
    from jivocrm.server.app import emulator_urls

    store = str(resolve(project.store, project.environ))
    return lines(project, local, emulator_urls(app), store)


__all__ = ["HeldStream", "for_app", "lines", "on_terminal", "public_base", "store_shown"]
