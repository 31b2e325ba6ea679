"""Diagnostics: one problem at one position of one file, printed compiler style."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from jivocrm.core.i18n import localized


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem found in a project file. ``line`` and ``column`` are 1-based (0 = unknown)."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: str = "error"
    # The id of the step the path points into (``steps[1]`` → ``contact``), for people.
    step: str = ""

    @property
    def shown_path(self) -> str:
        """The path as people read it: ``steps[1] (contact).type``."""
        if self.step and self.path.startswith("steps["):
            end = self.path.index("]") + 1
            return f"{self.path[:end]} ({self.step}){self.path[end:]}"
        return self.path

    def format(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        prefix = f"{self.shown_path}: " if self.path else ""
        return f"{where}: {prefix}{localized(self.message)}"

    def github(self) -> str:
        # GitHub Actions workflow command; its parameters must escape %, \r, \n, ':' and ','.
        def esc(value: str, prop: bool = False) -> str:
            value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            if prop:
                value = value.replace(":", "%3A").replace(",", "%2C")
            return value

        text = f"{self.shown_path}: {self.message}" if self.path else self.message
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


STEP_PATH = re.compile(r"^steps\[(\d+)\]")


def name_steps(
    diagnostics: Iterable[Diagnostic], steps: Mapping[str, list[Any]]
) -> list[Diagnostic]:
    """``diagnostics`` with the step id filled in where a path points into a step of a bundle
    (``steps``: file → that bundle's raw ``steps`` list)."""
    out = []
    for d in diagnostics:
        match = STEP_PATH.match(d.path)
        raw = steps.get(d.file)
        if match and raw is not None and not d.step:
            index = int(match.group(1))
            item = raw[index] if isinstance(raw, list) and index < len(raw) else None
            step_id = item.get("id") if isinstance(item, Mapping) else None
            if isinstance(step_id, str) and step_id:
                d = replace(d, step=step_id)
        out.append(d)
    return out


def json_path(parts: Iterable[str | int]) -> str:
    """``["steps", 2, "connection"]`` → ``steps[2].connection``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
