"""Project-file checks: secrets are ``${ENV}`` references, CRM addresses are https.

Which values are secrets is the schemas' business (``"x-secret": true`` on a property, in the
project schema and in each connector's connection schema), so a new connector's secrets are
checked without touching this module. ``validate`` never needs the secrets' values: CI has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from jivocrm.connectors.spec import LOOPBACK_HOSTS
from jivocrm.core.diagnostics import Diagnostic, Problem, json_path
from jivocrm.engine import schema as schemas
from jivocrm.engine.envvars import references
from jivocrm.engine.loader import Document
from jivocrm.engine.transcript import known_zone

Path_ = tuple[str | int, ...]
# The variable a secret's key suggests, where the key alone would say too much or too little.
SHORT_NAMES = {"long_lived_token": "TOKEN", "authorization_code": "AUTH_CODE"}


def _secret_paths(schema: Any, data: Any, path: Path_, defs: Mapping[str, Any]) -> Iterator[Path_]:
    """Paths of ``data`` whose schema says ``x-secret``."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        yield from _secret_paths(defs.get(ref.split("/")[-1]), data, path, defs)
    if schema.get("x-secret") and isinstance(data, str):
        yield path
        return
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or ():
            yield from _secret_paths(sub, data, path, defs)
    if isinstance(data, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, value in data.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            yield from _secret_paths(sub, value, (*path, key), defs)
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(data):
            yield from _secret_paths(schema["items"], value, (*path, i), defs)


def variable_for(path: Path_) -> str:
    """The environment variable a secret at ``path`` would naturally be called."""
    parts = [str(p) for p in path]
    if parts[:1] == ["channels"] and len(parts) >= 3:
        words = ["JIVO", parts[1], parts[-1]]
    elif parts[:1] == ["connections"] and len(parts) >= 3:
        words = [parts[1], SHORT_NAMES.get(parts[-1], parts[-1])]
    else:
        words = parts
    name = re.sub(r"[^A-Z0-9]+", "_", "_".join(words).upper()).strip("_")
    return name if not name[:1].isdigit() else "_" + name


def _loopback(value: str) -> bool:
    try:
        host = urlsplit(value.strip()).hostname
    except ValueError:
        return False
    return host in LOOPBACK_HOSTS


def check_project(doc: Document) -> Iterator[Diagnostic]:
    data = doc.data
    root_schema = schemas.skeleton_project_schema()
    defs = root_schema.get("$defs", {})
    secrets = [
        p
        for p in _secret_paths(root_schema, data, (), defs)
        if p[:1] != ("connections",)  # each connection against its own type's schema below
    ]
    connections = data.get("connections")
    for name, conn in connections.items() if isinstance(connections, dict) else ():
        kind = conn.get("type") if isinstance(conn, dict) else None
        if not isinstance(kind, str) or kind not in _connector_types():
            continue
        schema = schemas.connection_schema(kind)
        secrets.extend(_secret_paths(schema, conn, ("connections", name), {}))
        yield from _addresses(doc, ("connections", name), kind, conn)
    yield from _timezone(doc)
    yield from _notify(doc, data.get("notify"))
    for path in dict.fromkeys(secrets):
        value = _value(data, path)
        # A value holding a reference keeps its secret part in the environment. A loopback URL
        # is a local emulator's, whose code protects nothing.
        if not isinstance(value, str) or references(value) or _loopback(value):
            continue
        line, col = doc.position(path)
        yield Diagnostic(
            doc.file,
            line,
            col,
            json_path(path),
            Problem(
                "secret-literal",
                "the value is a secret: write it as ${{{variable}}} and set the "
                "variable where jivocrm runs",
                variable=variable_for(path),
            ),
        )


def _timezone(doc: Document) -> Iterator[Diagnostic]:
    name = doc.data.get("timezone")
    if isinstance(name, str) and not known_zone(name):
        line, col = doc.position(("timezone",))
        yield Diagnostic(
            doc.file,
            line,
            col,
            "timezone",
            Problem(
                "unknown-timezone",
                "unknown timezone '{name}': write an IANA name such as Europe/Moscow or UTC",
                name=name,
            ),
        )


def _notify(doc: Document, notify: Any) -> Iterator[Diagnostic]:
    """Alert channels that would send a secret in the clear."""
    if not isinstance(notify, dict):
        return
    problems: list[tuple[Path_, Problem]] = []
    telegram = notify.get("telegram")
    api = telegram.get("api_url") if isinstance(telegram, dict) else None
    if _literal(api) and not api.startswith("https://") and not _loopback(api):
        # The bot token travels in the URL's path.
        message = Problem("insecure-url", "https required: the bot token is in the URL")
        problems.append((("telegram", "api_url"), message))
    email = notify.get("email")
    if isinstance(email, dict) and email.get("security") == "none" and email.get("password"):
        host = email.get("host")
        if not (isinstance(host, str) and host in LOOPBACK_HOSTS):
            message = Problem(
                "insecure-password", "a password goes only over starttls or tls: pick one"
            )
            problems.append((("email", "security"), message))
    for path, message in problems:
        full = ("notify", *path)
        line, col = doc.position(full)
        yield Diagnostic(doc.file, line, col, json_path(full), message)


def _connector_types() -> frozenset[str]:
    from jivocrm.connectors import CONNECTORS

    return frozenset(CONNECTORS)


def _value(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def _addresses(doc: Document, base: Path_, kind: str, conn: dict[str, Any]) -> Iterator[Diagnostic]:
    """What the CRM's own checks say about the entry's literal values (forms of addresses)."""
    from jivocrm.connectors import CONNECTORS

    for path, problem in CONNECTORS[kind].check_config(conn):
        full = (*base, *path)
        line, col = doc.position(full)
        yield Diagnostic(doc.file, line, col, json_path(full), problem, code="connection-config")


def _literal(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip()) and not references(value)


__all__ = ["check_project", "variable_for"]
