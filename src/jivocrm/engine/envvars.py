"""``${VAR}`` and ``${VAR:-default}`` references in the project file, resolved on parsed values.

Resolution happens after YAML parsing and only inside scalars, so a value can never change the
file's structure. ``$${`` writes a literal ``${``. A resolved value containing a newline is refused.
"""

from __future__ import annotations

import os
import re
from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import Text

REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariable(JivoCRMError):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        listed = ", ".join(names)
        # One or several: the names are listed, so no count is said (no plural form by number).
        if len(names) > 1:
            message = Text(
                "environment variables {names} not set; export it or put it in .env (see"
                " .env.example)",
                names=listed,
            )
        else:
            message = Text(
                "environment variable {names} not set; export it or put it in .env (see"
                " .env.example)",
                names=listed,
            )
        super().__init__(message)


ENV_FILE = ".env"


def project_environ(
    root: Path, environ: MutableMapping[str, str] = os.environ
) -> Mapping[str, str]:
    """The variables a project's ``${VAR}`` references see: the process environment, then the
    project's ``.env`` file for what the environment does not set.

    The environment always wins; ``.env`` never changes ``os.environ`` and a missing file is
    fine. The file is read once, when this is called (a reload reads it again).
    """
    path = root / ENV_FILE
    if not path.is_file():
        return environ
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    return ChainMap(environ, values)


def references(text: str) -> list[str]:
    return [m.group(1) for m in REFERENCE.finditer(text) if m.group(1)]


def is_reference_only(text: str) -> bool:
    """True when the whole value is one ``${VAR}`` (with or without a default)."""
    match = REFERENCE.fullmatch(text.strip())
    return bool(match and match.group(1))


def resolve_text(text: str, environ: Mapping[str, str], missing: list[str]) -> str:
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                missing.append(name)
                return ""
            value = default
        if "\n" in value or "\r" in value:
            raise JivoCRMError(
                Text("environment variable {name} contains a line break; remove it", name=name)
            )
        return value

    return REFERENCE.sub(sub, text)


def resolve(value: Any, environ: Mapping[str, str]) -> Any:
    """``value`` with every reference replaced; raises ``MissingVariable`` naming all unset ones."""
    missing: list[str] = []

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return resolve_text(item, environ, missing)
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    out = walk(value)
    if missing:
        raise MissingVariable(sorted(set(missing)))
    return out
