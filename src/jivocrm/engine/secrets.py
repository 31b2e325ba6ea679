"""The values of a project's secrets, so that no log line, page or recorded call shows them."""

from __future__ import annotations

from collections.abc import Mapping

from jivocrm.engine.envvars import references, resolve
from jivocrm.engine.model import Project


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


__all__ = ["secret_values"]
