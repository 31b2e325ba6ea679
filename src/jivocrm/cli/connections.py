"""``jivocrm connections check|refresh [NAME]``: diagnose connections; snapshot CRM metadata."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import click

from jivocrm.cli.common import OK, USER_ERROR, echo_json, finish, guarded
from jivocrm.connectors.base import CheckResult, Connector, Metadata
from jivocrm.core.diagnostics import render
from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import N_, Text, _, localized, ngettext
from jivocrm.engine import snapshot
from jivocrm.engine.connections import open_connections
from jivocrm.engine.model import Project
from jivocrm.engine.project import load_project

T = TypeVar("T")

# The checks as people read them; ``--format json`` keeps the names.
CHECKS = {
    "configuration": N_("configuration"),
    "reachable": N_("reachable"),
    "authenticated": N_("authenticated"),
    "rights": N_("rights"),
}

PROJECT = click.option(
    "--project",
    "path",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project directory or its jivocrm.yaml.",
)


def _project(
    path: Path, name: str | None, *, use_snapshot: bool = True
) -> tuple[Project | None, list[str]]:
    project, problems = load_project(path, use_snapshot=use_snapshot)
    if project is None:
        click.echo(render(problems, "text"), err=True)
        return None, []
    names = sorted(project.connections)
    if name is not None:
        if name not in project.connections:
            known = ", ".join(names) or Text("none")
            raise JivoCRMError(
                Text(
                    "no connection named {name!r} (the project has: {known})",
                    name=name,
                    known=known,
                )
            )
        names = [name]
    return project, names


async def _each(
    project: Project, names: list[str], action: Callable[[Connector], Awaitable[T]]
) -> dict[str, T | JivoCRMError]:
    """``action`` on each named connection, one at a time; a failure is that connection's result."""
    results: dict[str, T | JivoCRMError] = {}
    async with aiohttp.ClientSession() as session:
        for name in names:
            # One connection per opening, so a missing variable of one does not hide the others.
            single = dataclasses.replace(project, connections={name: project.connections[name]})
            try:
                async with open_connections(single, session) as connectors:
                    results[name] = await action(connectors[name])
            except JivoCRMError as exc:
                results[name] = exc
    return results


def check(path: Path, name: str | None, fmt: str) -> int:
    project, names = _project(path, name)
    if project is None:
        return USER_ERROR

    async def diagnose(connector: Connector) -> list[CheckResult]:
        return await connector.check()

    results = asyncio.run(_each(project, names, diagnose))
    rows: list[dict[str, Any]] = []
    for conn, outcome in results.items():
        if isinstance(outcome, JivoCRMError):
            rows.append(
                {
                    "connection": conn,
                    "check": "configuration",
                    "ok": False,
                    "detail": outcome.message,
                }
            )
        else:
            rows.extend(
                {"connection": conn, "check": r.name, "ok": r.ok, "detail": r.detail}
                for r in outcome
            )
    failed = any(not row["ok"] for row in rows)
    if fmt == "json":
        echo_json(rows)
    else:
        for row in rows:
            mark = "ok  " if row["ok"] else "FAIL"
            shown = _(CHECKS.get(row["check"], row["check"]))
            click.echo(f"{mark} {row['connection']}: {shown}: {localized(row['detail'])}")
    return USER_ERROR if failed else OK


def refresh(path: Path, name: str | None, fmt: str) -> int:
    # Names checked against the old snapshot may be exactly what this refresh brings in.
    project, names = _project(path, name, use_snapshot=False)
    if project is None:
        return USER_ERROR

    async def fetch(connector: Connector) -> Metadata:
        return await connector.fetch_metadata()

    results = asyncio.run(_each(project, names, fetch))
    target = project.metadata_path or project.root / snapshot.DEFAULT_FILE
    summary: list[dict[str, Any]] = []
    failed = False
    for conn, outcome in results.items():
        if isinstance(outcome, JivoCRMError):
            failed = True
            summary.append({"connection": conn, "error": outcome.message})
            continue
        snapshot.write_connection(target, conn, project.connections[conn].type, outcome)
        summary.append(
            {
                "connection": conn,
                "pipelines": len(outcome.pipelines),
                "stages": sum(len(p.stages) for p in outcome.pipelines),
                "users": len(outcome.users),
                "fields": len(outcome.custom_fields),
            }
        )
    if fmt == "json":
        echo_json({"file": str(target), "connections": summary})
    else:
        for item in summary:
            if "error" in item:
                click.echo(f"FAIL {item['connection']}: {localized(item['error'])}")
            else:
                click.echo(f"ok   {item['connection']}: {_counts(item)}")
        click.echo(_("wrote {file}; review it with `git diff` and commit it").format(file=target))
    return USER_ERROR if failed else OK


def _counts(item: dict[str, Any]) -> str:
    """``3 pipelines, 9 stages, 4 users, 6 fields`` with each noun in the form its number takes."""
    parts = [
        ngettext("{count} pipeline", "{count} pipelines", item["pipelines"]),
        ngettext("{count} stage", "{count} stages", item["stages"]),
        ngettext("{count} user", "{count} users", item["users"]),
        ngettext("{count} field", "{count} fields", item["fields"]),
    ]
    counts = (item["pipelines"], item["stages"], item["users"], item["fields"])
    return ", ".join(p.format(count=n) for p, n in zip(parts, counts, strict=True))


FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


@click.group("connections")
def command() -> None:
    """Check CRM connections and refresh their metadata snapshot."""


@command.command("check")
@click.argument("name", required=False)
@PROJECT
@FORMAT
def check_command(name: str | None, path: Path, fmt: str) -> None:
    """Reachability, authentication and rights of each connection (or NAME), with what to do."""
    finish(guarded(lambda: check(path, name, fmt)))


@command.command("refresh")
@click.argument("name", required=False)
@PROJECT
@FORMAT
def refresh_command(name: str | None, path: Path, fmt: str) -> None:
    """Write pipelines, stages, users and custom fields into the metadata snapshot."""
    finish(guarded(lambda: refresh(path, name, fmt)))
