"""``load_project``: the one validator behind validate, test, run, serve and reload.

It reads the project file and every bundle, reports every problem across every file, and returns
the typed ``Project`` only when there is none. Two phases keep messages short: first
the skeleton of each file and each step's ``type``, then each step against its own schema.
"""

from __future__ import annotations

import copy
import functools
import glob
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jivocrm.core.diagnostics import Diagnostic, Problem, name_steps
from jivocrm.core.retry import DURABLE, RetryPolicy
from jivocrm.engine import schema as schemas
from jivocrm.engine.loader import Document, load_file, plain
from jivocrm.engine.model import (
    Bundle,
    Channel,
    Condition,
    Connection,
    JournalConfig,
    NotifyConfig,
    Project,
    ServerConfig,
    Step,
)
from jivocrm.engine.schema_errors import check, did_you_mean

PROJECT_FILE = "jivocrm.yaml"
TEST_SUFFIX = ".test.yaml"


def find_project_file(path: Path) -> Path:
    """``path`` itself when it is a file, else ``path/jivocrm.yaml``."""
    return path / PROJECT_FILE if path.is_dir() else path


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def bundle_files(root: Path, spec: Any) -> list[Path]:
    """The bundle files named by the project's ``bundles`` (a directory or globs), sorted."""
    patterns = spec if isinstance(spec, list) else [spec or "bundles/"]
    found: set[Path] = set()
    for pattern in patterns:
        target = root / str(pattern)
        if target.is_dir():
            candidates = list(target.glob("*.yaml")) + list(target.glob("*.yml"))
        else:
            candidates = [Path(p) for p in glob.glob(str(target), recursive=True)]
        for candidate in candidates:
            if candidate.is_file() and not candidate.name.endswith((TEST_SUFFIX, ".test.yml")):
                found.add(candidate)
    return sorted(found)


def _conditions(raw: Any) -> tuple[tuple[Condition, ...], ...]:
    if not raw:
        return ()
    return tuple(
        tuple(Condition(c["field"], c["op"], c.get("value")) for c in group["all"])
        for group in raw["any"]
    )


def build_bundle(doc: Document, path: Path, content: bytes) -> Bundle:
    data = plain(doc.data)
    steps = []
    for index, raw in enumerate(data["steps"]):
        params = {k: v for k, v in raw.items() if k not in schemas.COMMON_STEP_KEYS}
        steps.append(
            Step(
                id=raw["id"],
                type=raw["type"],
                index=index,
                params=params,
                connection=raw.get("connection"),
                when=raw.get("when"),
                on_error=raw.get("on_error", "fail"),
            )
        )
    trigger = data["trigger"]
    return Bundle(
        name=data.get("name") or path.name.rsplit(".", 1)[0],
        file=doc.file,
        event=trigger["event"],
        steps=tuple(steps),
        enabled=data.get("enabled", True),
        description=data.get("description", ""),
        channels=tuple(trigger.get("channels") or ()),
        filter=_conditions(data.get("filter")),
        lane=data.get("lane"),
        version_hash=hashlib.sha256(content).hexdigest()[:16],
        source=data,
        text=content.decode("utf-8", "replace"),
    )


# Keys of a bundle validated apart from the rest of it, each remembered by its content.
PARTS = ("trigger", "filter")


@functools.cache
def _skeleton_parts() -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """Phase one split up: the bundle's own keys, its parts (trigger, filter), one step's
    common keys. Validating each part on its own lets the parts projects repeat in every bundle
    (the same steps, the same filters) be validated once (``memoize``); the messages and paths
    are those of one pass over the whole bundle.
    """
    bundle = copy.deepcopy(schemas.skeleton_bundle_schema())
    defs = bundle["$defs"]
    parts = {key: {"$defs": defs, **bundle["properties"][key]} for key in PARTS}
    for key in PARTS:
        bundle["properties"][key] = {}
    bundle["properties"]["steps"]["items"] = {}
    return bundle, parts, {"$defs": defs, **defs["step"]}


def check_bundle_schema(doc: Document) -> list[Diagnostic]:
    """Phase one (skeleton) and, for every step whose type is known, phase two."""
    skeleton, parts, step_skeleton = _skeleton_parts()
    problems = list(check(doc, skeleton))
    data = doc.data if isinstance(doc.data, dict) else {}
    for key, schema in parts.items():
        if key in data:
            problems.extend(check(doc, schema, data[key], (key,), memoize=True))
    steps = data.get("steps")
    if isinstance(steps, list):
        known = schemas.step_schemas()
        for index, step in enumerate(steps):
            where = ("steps", index)
            common = list(check(doc, step_skeleton, step, where, memoize=True))
            problems.extend(common)
            if not isinstance(step, dict) or not isinstance(step.get("type"), str):
                continue
            if step["type"] not in known:
                continue
            problems.extend(
                d
                for d in check(doc, known[step["type"]], step, where, memoize=True)
                # phase one already reported problems of the common keys
                if not any(d.path == p.path and d.message == p.message for p in common)
            )
    return problems


def _connections(doc: Document) -> Iterator[Diagnostic]:
    raw = doc.data.get("connections") if isinstance(doc.data, dict) else None
    if not isinstance(raw, dict):
        return
    from jivocrm.connectors import CONNECTORS

    for name, conn in raw.items():
        if (
            isinstance(conn, dict)
            and isinstance(conn.get("type"), str)
            and conn["type"] in CONNECTORS
        ):
            yield from check(
                doc, schemas.connection_schema(conn["type"]), conn, ("connections", name)
            )


def _project(root: Path, file: Path, data: dict[str, Any], bundles: list[Bundle]) -> Project:
    server = data.get("server") or {}
    journal = data.get("journal") or {}
    notify = data.get("notify") or {}
    retry = data.get("retry") or {}
    metadata = data.get("metadata")
    default_metadata = root / "metadata.lock.yaml"
    return Project(
        root=root,
        file=file,
        bundles=tuple(bundles),
        channels={
            name: Channel(name, str(c["widget_id"]), str(c["token"]))
            for name, c in (data.get("channels") or {}).items()
        },
        connections={
            name: Connection(name, c["type"], c, bool(c.get("emulate", False)))
            for name, c in (data.get("connections") or {}).items()
        },
        server=ServerConfig(**server),
        store=data.get("store", "sqlite:///.jivocrm/jivocrm.db"),
        region=data.get("region", "RU"),
        timezone=data.get("timezone", "UTC"),
        language=data.get("language"),
        metadata_path=(root / metadata)
        if metadata
        else (default_metadata if default_metadata.exists() else None),
        journal=JournalConfig(**journal),
        notify=NotifyConfig(**notify),
        retry=RetryPolicy(
            attempts=retry.get("attempts", 12),
            initial=retry.get("initial", 5.0),
            multiplier=retry.get("multiplier", 3.0),
            max_delay=retry.get("max_delay", 14400.0),
            max_lane_hold=retry.get("max_lane_hold", DURABLE.max_lane_hold),
        ),
        raw=data,
    )


def load_project(
    path: Path, *, use_snapshot: bool = True
) -> tuple[Project | None, list[Diagnostic]]:
    """Load and check the project at ``path`` (its directory or its file): every problem, once."""
    from jivocrm.engine import checks

    file = find_project_file(path)
    root = file.parent
    if not file.exists():
        message = (
            Problem("no-project-file", "no project file (run `jivocrm init` to create one)")
            if path.is_dir()
            else Problem("no-project-file", "no project file")
        )
        return None, [Diagnostic(str(file), 0, 0, "", message)]
    project_doc, problems = load_file(file, _rel(file, root))
    if project_doc is None:
        return None, problems
    if not isinstance(project_doc.data, dict):
        message = Problem("not-a-mapping", "the project file must be a mapping")
        return None, [Diagnostic(project_doc.file, 1, 1, "", message)]
    problems.extend(check(project_doc, schemas.skeleton_project_schema()))
    problems.extend(_connections(project_doc))

    bundle_docs: list[tuple[Document, Path, bytes]] = []
    for bundle_path in bundle_files(root, project_doc.data.get("bundles")):
        doc, found = load_file(bundle_path, _rel(bundle_path, root))
        problems.extend(found)
        if doc is None:
            continue
        if not isinstance(doc.data, dict):
            message = Problem("not-a-mapping", "a bundle must be a mapping")
            problems.append(Diagnostic(doc.file, 1, 1, "", message))
            continue
        problems.extend(check_bundle_schema(doc))
        bundle_docs.append((doc, bundle_path, bundle_path.read_bytes()))

    found = checks.check_all(
        root, project_doc, [d for d, _, _ in bundle_docs], use_snapshot=use_snapshot
    )
    # A check that speaks about a value says more than the schema's generic form error there
    # (e.g. "add https://…" instead of a regular expression): one message per value.
    refined = {(d.file, d.path) for d in found if d.path and d.severity == "error"}
    problems = [p for p in problems if (p.file, p.path) not in refined] + found
    steps = {d.file: d.data.get("steps") for d, _, _ in bundle_docs}
    problems = sorted(set(name_steps(problems, steps)))
    if any(p.severity == "error" for p in problems):
        return None, problems

    bundles = [build_bundle(doc, p, content) for doc, p, content in bundle_docs]
    project = _project(root, file, plain(project_doc.data), bundles)
    return project, problems


__all__ = [
    "PROJECT_FILE",
    "build_bundle",
    "check_bundle_schema",
    "did_you_mean",
    "find_project_file",
    "load_project",
]
