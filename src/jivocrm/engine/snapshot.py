"""The CRM metadata snapshot, ``metadata.lock.yaml``: what each connection's CRM account holds
that bundles name (pipelines and their stages, users, custom fields), kept in git.

``jivocrm connections refresh`` writes it from the connector's ``Metadata``; ``validate`` reads it
to check the names bundles use without calling the CRM (CI has no credentials). The file is
written in a fixed order — connections by name; pipelines, users and fields by id; stages in the
CRM's own order, which is the pipeline's order on screen — one record per line, so a refresh
shows up in review as a readable diff of what changed in the CRM.

Format::

    version: 1
    connections:
      amo:
        type: <the connection's CRM>
        pipelines:
          - id: "7700001"
            name: "Продажи"
            stages:
              - {id: "61000011", name: "Первичный контакт", kind: "open"}
        users:
          - {id: "6100001", name: "Ольга Петрова", email: "o.petrova@shop-example.ru"}
        fields:
          deal:
            - {id: "264950", name: "Источник", code: null, type: "select",
               options: [{id: "447201", value: "Сайт 1"}, {id: "447202", value: "Сайт 2"}]}
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from jivocrm.connectors.base import (
    CrmUser,
    CustomField,
    EntityKind,
    Metadata,
    Pipeline,
    Stage,
)
from jivocrm.core.diagnostics import Diagnostic
from jivocrm.engine.loader import load_file, plain
from jivocrm.engine.schema_errors import check

DEFAULT_FILE = "metadata.lock.yaml"
ENTITIES = ("contact", "deal", "lead", "company")

_TEXT: dict[str, Any] = {"type": "string"}
_ID: dict[str, Any] = {"type": ["string", "integer"]}
_OPTIONAL: dict[str, Any] = {"type": ["string", "null"]}


def _record(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": required,
    }


_STAGE = _record({"id": _ID, "name": _TEXT, "kind": {"enum": ["open", "won", "lost"]}}, ["id"])
_PIPELINE = _record(
    {"id": _ID, "name": _TEXT, "stages": {"type": "array", "items": _STAGE}}, ["id", "name"]
)
_USER = _record({"id": _ID, "name": _TEXT, "email": _OPTIONAL}, ["id", "name"])
_OPTION = _record({"id": _ID, "value": _TEXT}, ["id", "value"])
_FIELD = _record(
    {
        "id": _ID,
        "name": _TEXT,
        "code": _OPTIONAL,
        "type": _OPTIONAL,
        "options": {"type": "array", "items": _OPTION},
    },
    ["id"],
)
SCHEMA: dict[str, Any] = _record(
    {
        "version": {"const": 1},
        "connections": {
            "type": "object",
            "additionalProperties": _record(
                {
                    "type": _TEXT,
                    "pipelines": {"type": "array", "items": _PIPELINE},
                    "users": {"type": "array", "items": _USER},
                    "fields": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {e: {"type": "array", "items": _FIELD} for e in ENTITIES},
                    },
                },
                ["type"],
            ),
        },
    },
    ["version", "connections"],
)


@dataclass(frozen=True)
class ConnectionSnapshot:
    """One connection's account as of the last refresh."""

    type: str
    pipelines: tuple[Pipeline, ...] = ()
    users: tuple[CrmUser, ...] = ()
    # entity ("contact", "deal", …) → its custom fields
    fields: Mapping[str, tuple[CustomField, ...]] = field(default_factory=dict)

    def metadata(self) -> Metadata:
        """As a connector would fetch it: to seed the runtime cache without calling the CRM."""
        return Metadata(
            pipelines=self.pipelines,
            users=self.users,
            custom_fields=tuple(f for items in self.fields.values() for f in items),
        )


Snapshot = dict[str, ConnectionSnapshot]


def _order(value: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order (7 before 10), others after them as text."""
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def from_metadata(crm_type: str, metadata: Metadata) -> ConnectionSnapshot:
    fields: dict[str, tuple[CustomField, ...]] = {}
    for entity in ENTITIES:
        chosen = [f for f in metadata.custom_fields if f.entity == entity]
        if chosen:
            fields[entity] = tuple(sorted(chosen, key=lambda f: _order(str(f.id))))
    return ConnectionSnapshot(
        type=crm_type,
        pipelines=tuple(sorted(metadata.pipelines, key=lambda p: _order(str(p.id)))),
        users=tuple(sorted(metadata.users, key=lambda u: _order(str(u.id)))),
        fields=fields,
    )


def _q(value: Any) -> str:
    # JSON strings are valid YAML double-quoted scalars: no value can be mistaken for a number,
    # a boolean or YAML syntax, whatever the CRM calls its stages.
    return "null" if value is None else json.dumps(str(value), ensure_ascii=False)


def _flow(pairs: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_q(v)}" for k, v in pairs.items()) + "}"


def dump(snapshot: Mapping[str, ConnectionSnapshot]) -> str:
    lines = [
        "# CRM metadata snapshot, written by `jivocrm connections refresh`; do not edit by hand.",
        "# Commit it: `jivocrm validate` checks the pipelines, stages, users and custom fields",
        "# that bundles name against it, without calling the CRM.",
        "version: 1",
        "connections:" + ("" if snapshot else " {}"),
    ]
    for name in sorted(snapshot):
        conn = snapshot[name]
        lines += [f"  {_q(name)}:", f"    type: {_q(conn.type)}", "    pipelines:"]
        lines[-1] += "" if conn.pipelines else " []"
        for p in conn.pipelines:
            lines += [f"      - id: {_q(p.id)}", f"        name: {_q(p.name)}", "        stages:"]
            lines[-1] += "" if p.stages else " []"
            lines += [
                f"          - {_flow({'id': s.id, 'name': s.name, 'kind': s.kind})}"
                for s in p.stages
            ]
        lines.append("    users:" + ("" if conn.users else " []"))
        lines += [
            f"      - {_flow({'id': u.id, 'name': u.name, 'email': u.email})}" for u in conn.users
        ]
        lines.append("    fields:" + ("" if conn.fields else " {}"))
        for entity in ENTITIES:
            if entity not in conn.fields:
                continue
            lines.append(f"      {entity}:")
            lines += [f"        - {_field(f)}" for f in conn.fields[entity]]
    return "\n".join(lines) + "\n"


def _field(f: CustomField) -> str:
    text = _flow({"id": f.id, "name": f.name, "code": f.code, "type": f.type})
    if not f.enums:
        return text
    # A list field's options, so validate can check the values bundles write into it.
    options = ", ".join(_flow({"id": eid, "value": value}) for eid, value in f.enums)
    return f"{text[:-1]}, options: [{options}]}}"


def write(path: Path, snapshot: Mapping[str, ConnectionSnapshot]) -> None:
    """Replace the file atomically, so a crash mid-write never leaves half a snapshot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(dump(snapshot))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_connection(path: Path, name: str, crm_type: str, metadata: Metadata) -> None:
    """Refresh one connection's entry and keep the others (a broken file is replaced)."""
    current: Snapshot = {}
    if path.exists():
        loaded, problems = read(path)
        current = loaded if loaded is not None and not problems else {}
    current[name] = from_metadata(crm_type, metadata)
    write(path, current)


def _user(raw: Mapping[str, Any]) -> CrmUser:
    return CrmUser(id=str(raw["id"]), name=str(raw["name"]), email=raw.get("email"))


def _pipeline(raw: Mapping[str, Any]) -> Pipeline:
    stages = tuple(
        Stage(id=str(s["id"]), name=str(s.get("name") or ""), kind=s.get("kind", "open"))
        for s in raw.get("stages") or ()
    )
    return Pipeline(id=str(raw["id"]), name=str(raw["name"]), stages=stages)


def _connection(raw: Mapping[str, Any]) -> ConnectionSnapshot:
    fields = {
        entity: tuple(
            CustomField(
                id=str(f["id"]),
                name=str(f.get("name") or ""),
                entity=cast("EntityKind", entity),  # the schema admits only ENTITIES
                code=f.get("code"),
                type=f.get("type"),
                enums=tuple((str(o["id"]), str(o["value"])) for o in f.get("options") or ()),
            )
            for f in items
        )
        for entity, items in (raw.get("fields") or {}).items()
    }
    return ConnectionSnapshot(
        type=str(raw["type"]),
        pipelines=tuple(_pipeline(p) for p in raw.get("pipelines") or ()),
        users=tuple(_user(u) for u in raw.get("users") or ()),
        fields=fields,
    )


def read(path: Path, file: str | None = None) -> tuple[Snapshot | None, list[Diagnostic]]:
    """The snapshot at ``path``; None and the problems (with positions) when it is broken."""
    doc, problems = load_file(path, file)
    if doc is None:
        return None, problems
    problems = list(check(doc, SCHEMA))
    if problems:
        return None, problems
    data = plain(doc.data)
    return {name: _connection(raw) for name, raw in data["connections"].items()}, []


__all__ = [
    "DEFAULT_FILE",
    "SCHEMA",
    "ConnectionSnapshot",
    "Snapshot",
    "dump",
    "from_metadata",
    "read",
    "write",
    "write_connection",
]
