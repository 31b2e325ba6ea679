"""CRM names in steps (pipelines, stages, users, custom fields) against the metadata snapshot.

Only literal names and ids are checked: a template's value is known when the event arrives. A
connection the snapshot does not cover is not checked (it was added after the last refresh).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jivocrm.connectors.base import Pipeline
from jivocrm.core.diagnostics import Diagnostic, Problem, json_path
from jivocrm.core.i18n import N_, Text
from jivocrm.engine.loader import Document
from jivocrm.engine.schema_errors import did_you_mean
from jivocrm.engine.snapshot import DEFAULT_FILE, ConnectionSnapshot, Snapshot, read
from jivocrm.engine.templates import is_template

REFRESH = N_("{problem}; if it is new in the CRM, run `jivocrm connections refresh`")


def load_snapshot(
    root: Path, project: Document
) -> tuple[tuple[Snapshot | None, str], list[Diagnostic]]:
    """The project's snapshot (its `metadata` key, else metadata.lock.yaml when present)."""
    named = project.data.get("metadata")
    relative = named if isinstance(named, str) and named else DEFAULT_FILE
    path = root / relative
    if not path.exists():
        if named == relative:
            line, col = project.position(("metadata",))
            return (None, relative), [
                Diagnostic(
                    project.file,
                    line,
                    col,
                    "metadata",
                    Problem(
                        "snapshot-missing",
                        "{file} does not exist yet: run `jivocrm connections refresh` to "
                        "write it (CRM names in bundles are not checked until then)",
                        file=relative,
                    ),
                    severity="warning",
                )
            ]
        return (None, relative), []
    snapshot, problems = read(path, relative)
    return (snapshot, relative), problems


def _literal(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and bool(value.strip()) and not is_template(value)


def _get(step: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = step
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _same(a: Any, b: Any) -> bool:
    return str(a).strip().casefold() == str(b).strip().casefold()


def check_step(
    doc: Document,
    index: int,
    step: Mapping[str, Any],
    snapshot: Snapshot | None,
    snapshot_file: str,
) -> Iterator[Diagnostic]:
    connection = step.get("connection")
    kind = step.get("type")
    if snapshot is None or not isinstance(connection, str) or not isinstance(kind, str):
        return
    account = snapshot.get(connection)
    if account is None:
        return
    where = Text(
        "in {file} of connection '{connection}'", file=snapshot_file, connection=connection
    )

    def at(path: tuple[str | int, ...], message: Problem, at_key: bool = False) -> Diagnostic:
        full = ("steps", index, *path)
        line, col = doc.position(full, at_key)
        said = Problem(message.code, REFRESH, problem=message)
        return Diagnostic(doc.file, line, col, json_path(full), said)

    from jivocrm.steps import STEPS

    spec = STEPS.get(kind)
    if spec is None:
        return
    for path in spec.names.users:
        value = _get(step, path)
        if _literal(value) and not _user_exists(account, value):
            hint = did_you_mean(str(value), [u.name for u in account.users])
            yield at(
                path,
                Problem(
                    "unknown-user",
                    "no user '{user}' {where}{hint}",
                    user=value,
                    where=where,
                    hint=hint,
                ),
            )
    if spec.names.pipeline is not None:
        yield from _pipeline_and_stage(step, spec.names.pipeline, account, where, at)
    for path, entity in spec.names.custom:
        custom = _get(step, path)
        if isinstance(custom, Mapping):
            yield from _custom(custom, path, entity, account, where, at)


def _custom(
    custom: Mapping[str, Any],
    base: tuple[str, ...],
    entity: str,
    account: ConnectionSnapshot,
    where: str,
    at: Callable[..., Diagnostic],
) -> Iterator[Diagnostic]:
    """Custom fields named by name, code or id; literal values of list fields among options."""
    names = account.fields.get(entity, ())
    for key, value in custom.items():
        field = next(
            (
                f
                for f in names
                if str(f.id) == str(key) or _same(f.name, key) or (f.code and _same(f.code, key))
            ),
            None,
        )
        if field is None:
            hint = did_you_mean(
                str(key), [f.name for f in names] + [f.code for f in names if f.code]
            )
            message = Problem(
                "unknown-custom-field",
                "no {entity} field '{key}' {where}{hint}",
                entity=_entity(entity),
                key=key,
                where=where,
                hint=hint,
            )
            yield at((*base, key), message, True)
            continue
        values = value if isinstance(value, list) else [value]
        for n, item in enumerate(values):
            if not field.options or not _literal(item) or field.option(item) is not None:
                continue
            texts = [text for _, text in field.options]
            path = (*base, key, n) if isinstance(value, list) else (*base, key)
            yield at(
                path,
                Problem(
                    "unknown-option",
                    "'{value}' is not an option of {entity} field '{field}' {where}{hint}; "
                    "it takes {options}",
                    value=item,
                    entity=_entity(entity),
                    field=field.name,
                    where=where,
                    hint=did_you_mean(str(item), texts),
                    options=", ".join(texts),
                ),
            )


# The entities custom fields belong to, as messages name them.
ENTITIES = {
    "deal": N_("deal"),
    "contact": N_("contact"),
    "lead": N_("lead"),
    "company": N_("company"),
    "customer": N_("customer"),
    "order": N_("order"),
}


def _entity(entity: str) -> str:
    return Text(ENTITIES[entity]) if entity in ENTITIES else entity


def _user_exists(account: ConnectionSnapshot, value: Any) -> bool:
    return any(
        str(u.id) == str(value).strip()
        or _same(u.name, value)
        or (u.email and _same(u.email, value))
        for u in account.users
    )


def _find_pipeline(account: ConnectionSnapshot, value: Any) -> Pipeline | None:
    return next(
        (p for p in account.pipelines if str(p.id) == str(value).strip() or _same(p.name, value)),
        None,
    )


def _pipeline_and_stage(
    step: Mapping[str, Any],
    base: tuple[str, ...],
    account: ConnectionSnapshot,
    where: str,
    at: Callable[[tuple[str | int, ...], Problem], Diagnostic],
) -> Iterator[Diagnostic]:
    pipeline_value = _get(step, (*base, "pipeline"))
    candidates: list[Pipeline] = list(account.pipelines)
    if _literal(pipeline_value):
        found = _find_pipeline(account, pipeline_value)
        if found is None:
            hint = did_you_mean(str(pipeline_value), [p.name for p in account.pipelines])
            message = Problem(
                "unknown-pipeline",
                "no pipeline '{pipeline}' {where}{hint}",
                pipeline=pipeline_value,
                where=where,
                hint=hint,
            )
            yield at((*base, "pipeline"), message)
            return
        candidates = [found]
    elif pipeline_value is not None:
        return  # a template: the stage is looked up in the pipeline it renders to
    stage_value = _get(step, (*base, "stage"))
    if not _literal(stage_value):
        return
    stages = [s for p in candidates for s in p.stages]
    if any(str(s.id) == str(stage_value).strip() or _same(s.name, stage_value) for s in stages):
        return
    scope = (
        Text("pipeline '{pipeline}'", pipeline=candidates[0].name)
        if len(candidates) == 1
        else Text("any pipeline")
    )
    hint = did_you_mean(str(stage_value), [s.name for s in stages])
    message = Problem(
        "unknown-stage",
        "no stage '{stage}' in {scope} {where}{hint}",
        stage=stage_value,
        scope=scope,
        where=where,
        hint=hint,
    )
    yield at((*base, "stage"), message)


__all__ = ["check_step", "load_snapshot"]
