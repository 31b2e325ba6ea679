"""Where the daemon of a project is reached: on this machine, and by Jivo and people."""

from __future__ import annotations

from collections.abc import Mapping

from jivocrm.core.errors import JivoCRMError
from jivocrm.engine.envvars import resolve, resolve_text
from jivocrm.engine.model import Project


def local_address(project: Project) -> str | None:
    """``http://host:port`` of the daemon on this machine; None when the port is an unset
    ``${VAR}``. Local, not ``public_url``: the CLI reads the same store, so it runs there."""
    server = project.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    try:
        port = resolve(str(server.port), project.environ)
    except JivoCRMError:
        return None
    return f"http://{host}:{port}"


def public_address(project: Project, environ: Mapping[str, str]) -> str:
    """Where Jivo and people reach the daemon: ``server.public_url`` when it resolves, else the
    local address (fine on this machine only)."""
    if project.server.public_url:
        missing: list[str] = []
        url = resolve_text(project.server.public_url, environ, missing)
        if not missing:
            return url.rstrip("/")
    return local_address(project) or f"http://{project.server.host}:{project.server.port}"


__all__ = ["local_address", "public_address"]
