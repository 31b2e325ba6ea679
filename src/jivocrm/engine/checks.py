"""Checks beyond the schema: names, references, templates, event fields, connections, secrets.

The schema phases (project.py) say whether each file has the right shape; the checks here say
whether the files agree with each other and with the world outside: a step's connection exists and
its CRM can do the step, a template reads fields the trigger's event really has, a bundle's
channels are the project's, the CRM names exist in the metadata snapshot. Every check tolerates a
file the schema already found broken (wrong types are skipped here, not reported twice).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jivocrm.connectors import CONNECTORS
from jivocrm.core.diagnostics import Diagnostic, Problem, json_path
from jivocrm.core.i18n import N_, Text
from jivocrm.engine import checks_names, checks_project, checks_templates
from jivocrm.engine.catalogue import EVENTS, REPLY_EVENTS, normalize_path
from jivocrm.engine.filters_ops import OPS
from jivocrm.engine.loader import Document
from jivocrm.engine.schema_errors import did_you_mean
from jivocrm.engine.snapshot import Snapshot
from jivocrm.steps import STEPS


@dataclass
class Facts:
    """What the bundles are checked against: the project's connections, channels, snapshot."""

    root: Path
    connections: dict[str, str | None] = field(default_factory=dict)  # name → CRM type
    channels: dict[str, str] = field(default_factory=dict)  # name → widget_id
    snapshot: Snapshot | None = None
    snapshot_file: str = ""


def _facts(root: Path, project: Document, use_snapshot: bool) -> tuple[Facts, list[Diagnostic]]:
    data = project.data
    facts = Facts(root)
    connections = data.get("connections")
    if isinstance(connections, dict):
        for name, conn in connections.items():
            kind = conn.get("type") if isinstance(conn, dict) else None
            facts.connections[str(name)] = kind if isinstance(kind, str) else None
    channels = data.get("channels")
    if isinstance(channels, dict):
        for name, channel in channels.items():
            widget = channel.get("widget_id") if isinstance(channel, dict) else None
            facts.channels[str(name)] = str(widget) if widget is not None else ""
    if not use_snapshot:
        return facts, []  # not even a broken snapshot may stop the refresh that replaces it
    snapshot, problems = checks_names.load_snapshot(root, project)
    facts.snapshot, facts.snapshot_file = snapshot
    return facts, problems


def check_all(
    root: Path, project: Document, bundles: list[Document], *, use_snapshot: bool = True
) -> list[Diagnostic]:
    """Every cross-file problem of the project, in one pass over each file.

    ``use_snapshot=False`` skips the CRM names check: `connections refresh` must run when the
    snapshot is what is out of date.
    """
    facts, problems = _facts(root, project, use_snapshot)
    problems.extend(checks_project.check_project(project))
    problems.extend(_duplicate_names(bundles))
    for doc in bundles:
        problems.extend(check_bundle(doc, facts))
    return problems


def bundle_name(doc: Document) -> str:
    name = doc.data.get("name")
    if isinstance(name, str) and name:
        return name
    return Path(doc.file).name.rsplit(".", 1)[0]


def _duplicate_names(bundles: list[Document]) -> Iterator[Diagnostic]:
    first: dict[str, str] = {}
    for doc in bundles:
        name = bundle_name(doc)
        if name not in first:
            first[name] = doc.file
            continue
        hint = "" if "name" in doc.data else Text(" (the name defaults to the file name)")
        line, col = doc.position(("name",))
        yield Diagnostic(
            doc.file,
            line,
            col,
            "name",
            Problem(
                "duplicate-bundle-name",
                "bundle name '{name}' is already used by {other}{hint}; give each bundle "
                "its own name",
                name=name,
                other=first[name],
                hint=hint,
            ),
        )


def _and(words: list[str]) -> str:
    """``a and b`` (``a and b and c``) in the reader's language."""
    said = words[0] if words else ""
    for word in words[1:]:
        said = Text("{some} and {last}", some=said, last=word)
    return said


_REGEX_POSITION = re.compile(r"^(?P<problem>.+) at position (?P<position>\d+)$")
REGEX_PROBLEMS = {
    "unterminated character set": N_("unterminated character set"),
    "missing ), unterminated subpattern": N_("missing ), unterminated subpattern"),
    "unbalanced parenthesis": N_("unbalanced parenthesis"),
    "nothing to repeat": N_("nothing to repeat"),
    "multiple repeat": N_("multiple repeat"),
    "bad escape (end of pattern)": N_("bad escape (end of pattern)"),
}


def regex_problem(exc: re.error) -> str:
    """Python's words for a broken regular expression, translatable where they are usual."""
    text = str(exc)
    found = _REGEX_POSITION.match(text)
    problem, position = (found["problem"], found["position"]) if found else (text, None)
    said: str = Text(REGEX_PROBLEMS[problem]) if problem in REGEX_PROBLEMS else problem
    if position is None:
        return said
    return Text("{problem} at position {position}", problem=said, position=int(position))


def _at(
    doc: Document, path: tuple[str | int, ...], message: str, at_key: bool = False
) -> Diagnostic:
    line, col = doc.position(path, at_key)
    return Diagnostic(doc.file, line, col, json_path(path), message)


def check_bundle(doc: Document, facts: Facts) -> Iterator[Diagnostic]:
    data = doc.data
    trigger = data.get("trigger")
    trigger = trigger if isinstance(trigger, dict) else {}
    # Any YAML value may stand where a name belongs (a list is unhashable): text only.
    raw_event = trigger.get("event")
    event = raw_event if isinstance(raw_event, str) and raw_event in EVENTS else None
    yield from _channels(doc, trigger.get("channels"), facts)
    yield from _filter(doc, data.get("filter"), event)
    lane = data.get("lane")
    if isinstance(lane, str):
        yield from checks_templates.check_strings(
            doc, ("lane",), lane, checks_templates.Scope(event, lane=True), facts.root
        )
    steps = data.get("steps")
    if isinstance(steps, list):
        yield from _steps(doc, steps, event, facts, _filter_guards(data.get("filter")))


# Filter operators that hold only for a value that is there (and, for a list, not empty).
PRESENT_OPS = frozenset(
    {"equals", "not_empty", "in", "contains", "starts_with", "ends_with", "matches"}
    | {"gt", "gte", "lt", "lte"}
)


def _filter_guards(raw: Any) -> frozenset[str]:
    """Event paths every group of the filter requires to be there: a step may read below them."""
    groups = raw.get("any") if isinstance(raw, dict) else None
    if not isinstance(groups, list) or not groups:
        return frozenset()
    common: set[str] | None = None
    for group in groups:
        conditions = group.get("all") if isinstance(group, dict) else None
        present = {
            normalize_path(cond["field"])
            for cond in (conditions if isinstance(conditions, list) else [])
            if isinstance(cond, dict)
            and isinstance(cond.get("field"), str)
            and cond.get("op") in PRESENT_OPS
        }
        common = present if common is None else common & present
    return frozenset(common or ())


def _channels(doc: Document, channels: Any, facts: Facts) -> Iterator[Diagnostic]:
    if not isinstance(channels, list):
        return
    known = set(facts.channels) | set(facts.channels.values())
    for index, entry in enumerate(channels):
        if not isinstance(entry, str) or entry in known:
            continue
        listed = ", ".join(sorted(facts.channels.values())) or Text("none")
        yield _at(
            doc,
            ("trigger", "channels", index),
            Problem(
                "unknown-channel",
                "unknown channel '{channel}'{hint}; give a widget_id or a "
                "channel name from jivocrm.yaml (widget ids: {listed})",
                channel=entry,
                hint=did_you_mean(entry, known),
                listed=listed,
            ),
        )


def _filter(doc: Document, raw: Any, event: str | None) -> Iterator[Diagnostic]:
    groups = raw.get("any") if isinstance(raw, dict) else None
    if not isinstance(groups, list):
        return
    for g, group in enumerate(groups):
        conditions = group.get("all") if isinstance(group, dict) else None
        for c, cond in enumerate(conditions if isinstance(conditions, list) else []):
            if isinstance(cond, dict):
                yield from _condition(doc, ("filter", "any", g, "all", c), cond, event)


def _condition(
    doc: Document, where: tuple[str | int, ...], cond: dict[str, Any], event: str | None
) -> Iterator[Diagnostic]:
    path = cond.get("field")
    if isinstance(path, str) and event is not None:
        if path.startswith("event."):
            yield _at(
                doc,
                (*where, "field"),
                Problem(
                    "filter-event-prefix",
                    "filter fields are paths in the event: write '{path}', without 'event.'",
                    path=path[6:],
                ),
            )
        else:
            problem = checks_templates.event_field_problem(event, path)
            if problem:
                yield _at(doc, (*where, "field"), problem)
    op = cond.get("op")
    kind = OPS.get(op) if isinstance(op, str) else None
    if kind is None:
        return  # the schema reported the unknown op
    value = cond.get("value")
    if kind == "none":
        if "value" in cond:
            message = Problem("filter-value-unexpected", "'{op}' takes no value; remove it", op=op)
            yield _at(doc, (*where, "value"), message, at_key=True)
    elif "value" not in cond or value is None:
        message = Problem("filter-value-missing", "'{op}' needs a value: add `value:`", op=op)
        yield _at(doc, (*where, "op"), message)
    elif kind == "list" and not isinstance(value, list):
        message = Problem(
            "filter-value-not-list",
            "'{op}' needs a list, e.g. value: [{value}]",
            op=op,
            value=value,
        )
        yield _at(doc, (*where, "value"), message)
    elif kind == "pattern":
        try:
            re.compile(str(value))
        except re.error as exc:
            message = Problem(
                "bad-regex", "not a valid regular expression: {problem}", problem=regex_problem(exc)
            )
            yield _at(doc, (*where, "value"), message)


def _steps(
    doc: Document, steps: list[Any], event: str | None, facts: Facts, guards: frozenset[str]
) -> Iterator[Diagnostic]:
    ids: dict[str, int] = {}
    for index, step in enumerate(steps):
        sid = step.get("id") if isinstance(step, dict) else None
        if isinstance(sid, str) and sid not in ids:
            ids[sid] = index
    earlier: dict[str, str | None] = {}
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        sid = step.get("id")
        raw_type = step.get("type")
        kind = raw_type if isinstance(raw_type, str) and raw_type in STEPS else None
        if isinstance(sid, str) and ids.get(sid) != index:
            yield _at(
                doc,
                ("steps", index, "id"),
                Problem(
                    "duplicate-step-id",
                    "duplicate step id '{id}' (also steps[{first}]); give each step its own id",
                    id=sid,
                    first=ids[sid],
                ),
            )
        yield from _connection(doc, index, step, kind, facts)
        if kind is not None and STEPS[kind].reply and event not in (None, *REPLY_EVENTS):
            yield _at(
                doc,
                ("steps", index, "type"),
                Problem(
                    "reply-not-read",
                    "{kind} works only under {events} triggers: Jivo reads no reply to {event}",
                    kind=kind,
                    events=_and(sorted(REPLY_EVENTS)),
                    event=event,
                ),
            )
        scope = checks_templates.Scope(
            event,
            earlier=dict(earlier),
            later={k: v for k, v in ids.items() if v > index},
            # a repeated id reads the first step of that id, already reported as a duplicate
            current=sid if isinstance(sid, str) and sid not in earlier else None,
            guards=guards,
        )
        yield from checks_templates.check_step(doc, index, step, scope, facts.root)
        yield from checks_names.check_step(doc, index, step, facts.snapshot, facts.snapshot_file)
        if isinstance(sid, str) and sid not in earlier:
            earlier[sid] = kind


def _connection(
    doc: Document, index: int, step: dict[str, Any], kind: str | None, facts: Facts
) -> Iterator[Diagnostic]:
    name = step.get("connection")
    if not isinstance(name, str):
        return
    where = ("steps", index, "connection")
    if name not in facts.connections:
        hint = did_you_mean(name, facts.connections)
        if hint:
            message = Problem(
                "unknown-connection", "unknown connection '{name}'{hint}", name=name, hint=hint
            )
        elif facts.connections:
            message = Problem(
                "unknown-connection",
                "unknown connection '{name}'; connections: {listed}",
                name=name,
                listed=", ".join(sorted(facts.connections)),
            )
        else:
            message = Problem(
                "unknown-connection",
                "unknown connection '{name}'; connections: none defined in jivocrm.yaml",
                name=name,
            )
        yield _at(doc, where, message)
        return
    crm = facts.connections[name]
    needs = STEPS[kind].needs if kind is not None else None
    spec = CONNECTORS.get(crm) if crm is not None else None
    if spec is not None and needs is not None and needs not in spec.capabilities:
        able = [c.title for c in CONNECTORS.values() if needs in c.capabilities]
        works = _and(able) or Text("no CRM jivocrm knows")
        yield _at(
            doc,
            where,
            Problem(
                "crm-unsupported",
                "{kind} works with {works} only; connection '{name}' is {crm}",
                kind=kind,
                works=works,
                name=name,
                crm=spec.title,
            ),
        )
        return
    for key, capability in (STEPS[kind].key_needs if kind is not None else {}).items():
        value: Any = step
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and spec is not None and capability not in spec.capabilities:
            takers = _and([c.title for c in CONNECTORS.values() if capability in c.capabilities])
            yield _at(
                doc,
                ("steps", index, *key.split(".")),
                Problem(
                    "key-unsupported",
                    "{crm} does not take `{key}` here (only {takers}): remove it",
                    crm=spec.title,
                    key=key.rsplit(".", 1)[-1],
                    takers=takers,
                ),
            )


__all__ = ["Facts", "bundle_name", "check_all", "check_bundle"]
