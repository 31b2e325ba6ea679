"""The bundle test file format (``*.test.yaml`` next to the bundles): its schema and loader.

What the keys mean, with an example of each expectation, is in ``format.md`` beside this module
(the "Bundle tests" section of docs/reference.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML

from jivocrm.core.errors import JivoCRMError

SUFFIXES = (".test.yaml", ".test.yml")

STATE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "users": {"type": "array", "items": {"type": "object"}},
        "contacts": {"type": "array", "items": {"type": "object"}},
        "deals": {"type": "array", "items": {"type": "object"}},
    },
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "jivocrm bundle tests",
    "type": "object",
    "additionalProperties": False,
    "required": ["tests"],
    "properties": {
        "bundle": {"type": "string"},
        "project": {"type": "string", "description": "The project file; default: the nearest."},
        "tests": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "event", "expect"],
                "properties": {
                    "name": {"type": "string"},
                    "bundle": {"type": "string"},
                    "event": {"type": ["string", "object"]},
                    "patch": {"type": "object"},
                    "dry_run": {"type": "boolean"},
                    "crm": {"type": "object", "additionalProperties": STATE},
                    "expect": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "matched": {"type": "boolean"},
                            "reason": {"type": "string"},
                            "status": {"enum": ["succeeded", "failed", "retry"]},
                            "error": {"type": "string"},
                            "calls": {"type": "array"},
                            "steps": {"type": "object"},
                            "crm": {"type": "object"},
                            "reply": {"type": "object"},
                        },
                    },
                },
            },
        },
    },
}


@dataclass
class BundleTest:
    file: Path
    name: str
    bundle: str | None
    event: dict[str, Any]
    expect: dict[str, Any]
    crm: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    project: Path | None = None

    @property
    def title(self) -> str:
        """``file: name``, the file relative to the working directory when it is below it."""
        try:
            shown = self.file.resolve().relative_to(Path.cwd())
        except ValueError:
            shown = self.file
        return f"{shown}: {self.name}"


def merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, Mapping):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base.get(key), value)
        return out
    return copy.deepcopy(patch)


def _event(raw: Any, here: Path) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    path = (here / str(raw)).resolve()
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise JivoCRMError(f"event {raw}: cannot read a JSON event from {path} ({exc})") from None
    if not isinstance(data, dict):
        raise JivoCRMError(f"event {raw}: {path} does not hold a JSON object")
    return data


def load_tests(path: Path) -> list[BundleTest]:
    """Every test of one ``*.test.yaml`` file; JivoCRMError names the file and the problem."""
    try:
        data = YAML(typ="safe").load(path.read_text("utf-8"))
    except Exception as exc:  # ruamel raises many types; all mean "not readable YAML"
        raise JivoCRMError(f"{path}: not valid YAML ({exc})") from None
    problems = sorted(
        jsonschema.Draft202012Validator(SCHEMA).iter_errors(data), key=lambda e: list(e.path)
    )
    if problems:
        where = "/".join(str(p) for p in problems[0].path) or "(top)"
        raise JivoCRMError(f"{path}: {where}: {problems[0].message}")
    project = path.parent / data["project"] if data.get("project") else None
    tests = []
    for raw in data["tests"]:
        event = merge(_event(raw["event"], path.parent), raw.get("patch") or {})
        tests.append(
            BundleTest(
                file=path,
                name=raw["name"],
                bundle=raw.get("bundle", data.get("bundle")),
                event=event,
                expect=raw["expect"],
                crm=raw.get("crm") or {},
                dry_run=bool(raw.get("dry_run", False)),
                project=project,
            )
        )
    return tests


def find_test_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for suffix in SUFFIXES for p in path.rglob(f"*{suffix}"))


__all__ = ["SCHEMA", "BundleTest", "find_test_files", "load_tests", "merge"]
