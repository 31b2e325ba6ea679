"""The bundle test file format (``*.test.yaml`` next to the bundles), its schema and loader.

A test file holds one or more tests of the project's bundles::

    # bundles/amocrm/chat-finished.test.yaml
    bundle: amo-chat-finished          # default bundle of the tests below (optional)
    tests:
      - name: a new visitor gets one contact and one deal
        event: ../../samples/jivo_chat_finished.json   # a file (relative to this one) or inline
        patch: {visitor: {phone: "8 916 000-00-00"}}   # deep-merged onto the event (optional)
        crm:                           # CRM state before the event, per connection (optional)
          amo:
            users: [{name: Пётр Сидоров, email: p.sidorov@shop-example.ru}]
            contacts: [{name: Анна, phones: ["+7 916 123-45-67"], emails: [a@b.ru]}]
            deals: [{name: Диван, contact: 40000001, pipeline: Продажи, stage: Переговоры}]
        expect:
          matched: true                # did the bundle match (reason: a part of the reason)
          status: succeeded            # the run's status
          calls:                       # the CRM calls of the run, in order, all of them
            - GET /api/v4/contacts
            - {call: POST /api/v4/leads/complex, request: [{name: "Чат Jivo #58213"}]}
          steps: {contact: {created: true}}     # step outputs (a subset)
          crm:                         # what the CRM holds afterwards: exactly this many
            amo:
              contacts: [{name: Анна Смирнова, phones: ["+79161234567"]}]
              deals: [{name: "Чат Jivo #58213", stage: Первичный контакт}]
          reply: {crm_link: "*"}       # the merged reply to Jivo (a subset)

Matching rules: mappings match when every expected key matches (a subset); lists match when
they have the same length and match item by item; ``"*"`` matches any value but null; numbers
and text compare as text (ids drift between the two). A call is written ``METHOD path`` — the
URL path for amoCRM, the REST method for Bitrix24 (``POST crm.contact.add``, ``POST batch``).
Contacts and deals are compared in the CRM's id order; a contact is ``id, name, phones (E.164),
emails, responsible``, a deal ``id, name, pipeline, pipeline_id, stage, stage_id, price,
contacts, responsible``. ``crm`` state seeds the emulators: without ``contacts`` and ``deals`` the
emulator's demo account is used, with either of them both replace it; ``users`` are added.

Without ``bundle`` the event runs through every bundle of the project; ``matched`` then means
"some bundle matched" and ``calls`` are those of all runs in project order.
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

from jivocrm.errors import JivoCRMError

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
        return f"{self.file}: {self.name}"


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
