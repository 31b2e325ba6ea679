"""SQL kept in files: named statements and numbered migrations per backend."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
MIGRATION = re.compile(r"^(\d{4})_[\w-]+\.sql$")


def load_queries(backend: str) -> dict[str, str]:
    """``{name: statement}`` from ``sql/<backend>/queries.sql``."""
    text = resources.files("jivocrm.store").joinpath("sql", backend, "queries.sql").read_text()
    parts = NAME.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(backend: str) -> list[Migration]:
    """The numbered migrations of ``backend``, in order; numbers must not repeat or skip."""
    folder = resources.files("jivocrm.store").joinpath("sql", backend)
    found = []
    for entry in folder.iterdir():
        match = MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text()))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise RuntimeError(f"migrations of {backend} are not numbered 1..n: {found}")
    return found


__all__ = ["Migration", "load_queries", "migrations"]
