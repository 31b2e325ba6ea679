"""Diagnostics: one problem at one position of one file, printed compiler style."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem found in a project file. ``line`` and ``column`` are 1-based (0 = unknown)."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: str = "error"

    def format(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        prefix = f"{self.path}: " if self.path else ""
        return f"{where}: {prefix}{self.message}"

    def github(self) -> str:
        # GitHub Actions workflow command; its parameters must escape %, \r, \n, ':' and ','.
        def esc(value: str, prop: bool = False) -> str:
            value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            if prop:
                value = value.replace(":", "%3A").replace(",", "%2C")
            return value

        text = f"{self.path}: {self.message}" if self.path else self.message
        return (
            f"::{self.severity} file={esc(self.file, True)},line={self.line or 1},"
            f"col={self.column or 1}::{esc(text)}"
        )


def render(diagnostics: Iterable[Diagnostic], fmt: str) -> str:
    items = sorted(diagnostics)
    if fmt == "json":
        return json.dumps([asdict(d) for d in items], ensure_ascii=False, indent=2)
    if fmt == "github":
        return "\n".join(d.github() for d in items)
    return "\n".join(d.format() for d in items)


def json_path(parts: Iterable[str | int]) -> str:
    """``["steps", 2, "connection"]`` → ``steps[2].connection``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
