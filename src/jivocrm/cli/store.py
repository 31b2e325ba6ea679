"""``jivocrm store migrate|check [PATH]``: the store's schema and health, outside the daemon.

``migrate`` applies the numbered migrations the store lacks and names them (the daemon also does
this when it starts; a deployment that wants schema changes as a separate step runs this first).
``check`` says whether the store answers, whether its schema is the one this jivocrm expects,
and how much it holds. Both read the ``store:`` URL of the project (``${VAR}`` resolved from the
environment) unless ``--url`` names one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from jivocrm.cli.common import FORMAT, OK, USER_ERROR, echo_json, finish, guarded
from jivocrm.core.errors import JivoCRMError, ProjectError, StoreError
from jivocrm.core.i18n import _
from jivocrm.engine.envvars import resolve
from jivocrm.store import store_path
from jivocrm.store.queries import migrations


@dataclass
class Report:
    url: str
    backend: str
    version: int = 0
    latest: int = 0
    applied: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def current(self) -> bool:
        return self.version == self.latest


def store_url(path: Path, url: str | None) -> tuple[str, Path]:
    """(URL, project root): ``--url`` wins; else the project's ``store:``."""
    from jivocrm.engine.project import load_project

    if url:
        return url, path if path.is_dir() else path.parent
    project, problems = load_project(path)
    if project is None:
        raise ProjectError(problems)
    return str(resolve(project.store, project.environ)), project.root


# ---- SQLite ------------------------------------------------------------------------------------
def _sqlite(url: str, root: Path, apply: bool) -> Report:
    from jivocrm.store.sqlite_db import connect, migrate, private_file

    path = store_path(url, root)
    report = Report(str(path), "sqlite", latest=len(migrations("sqlite")))
    if not apply and not path.exists():
        raise StoreError(f"no store at {path}: `jivocrm store migrate` or `jivocrm serve` makes it")
    try:
        private_file(path)
        conn = connect(path, "FULL")
        try:
            if apply:
                report.applied = migrate(conn)
            report.version = _sqlite_version(conn)
            if report.version:
                report.counts = _sqlite_counts(conn)
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot use the store {path}: {exc}") from exc
    return report


def _sqlite_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    return int(
        conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    )


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    counts = {
        t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
        for t in ("events", "runs", "steps", "rejections")
    }
    for status in ("queued", "running", "failed"):
        row = conn.execute("SELECT count(*) FROM runs WHERE status = ?", (status,)).fetchone()
        counts[status] = int(row[0])
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    counts["bytes"] = int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])
    return counts


# ---- PostgreSQL --------------------------------------------------------------------------------
async def _postgres(url: str, apply: bool) -> Report:
    import psycopg

    from jivocrm.store.postgres_db import Q, applied_versions, connect, migrate, redact_url

    report = Report(redact_url(url), "postgresql", latest=len(migrations("postgres")))
    async with await connect(url) as conn:
        try:
            if apply:
                report.applied = await migrate(conn)
            report.version = max(await applied_versions(conn), default=0)
            if report.version:
                row = await (await conn.execute(Q["counts"])).fetchone()
                report.counts = {k: int(v) for k, v in (row or {}).items()}
        except psycopg.Error as exc:
            raise StoreError(f"the store {report.url} failed: {exc}") from exc
    return report


def inspect(url: str, root: Path, *, apply: bool) -> Report:
    if url.startswith("sqlite:///"):
        return _sqlite(url, root, apply)
    if url.startswith(("postgresql://", "postgres://")):
        return asyncio.run(_postgres(url, apply))
    raise JivoCRMError(f"unknown store URL {url!r}: use sqlite:///path or postgresql://…")


# ---- commands ----------------------------------------------------------------------------------
def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _json(report: Report) -> dict[str, Any]:
    return {**asdict(report), "current": report.current}


def migrate_store(path: Path, url: str | None, fmt: str) -> int:
    target, root = store_url(path, url)
    report = inspect(target, root, apply=True)
    if fmt == "json":
        echo_json(_json(report))
        return OK
    for name in report.applied:
        click.echo(_("applied {name}").format(name=name))
    said = (
        _("{url}: migrated to schema version {version}")
        if report.applied
        else _("{url}: already at schema version {version}")
    )
    click.echo(said.format(url=report.url, version=report.version))
    return OK


def check_store(path: Path, url: str | None, fmt: str) -> int:
    target, root = store_url(path, url)
    report = inspect(target, root, apply=False)
    if fmt == "json":
        echo_json(_json(report))
    else:
        click.echo(_("{url}: reachable ({backend})").format(url=report.url, backend=report.backend))
        click.echo(
            _("schema version {version} of {latest}").format(
                version=report.version, latest=report.latest
            )
        )
        c = report.counts
        if c:
            click.echo(
                _(
                    "events {events}, runs {runs} (queued {queued}, running {running}, "
                    "failed {failed}), steps {steps}, rejections {rejections}, size {size}"
                ).format(**{**c, "size": _size(c["bytes"])})
            )
    if report.version < report.latest:
        click.echo(
            _(
                "the schema is behind ({version} < {latest}): run `jivocrm store "
                "migrate` (or start `jivocrm serve`, which migrates)"
            ).format(version=report.version, latest=report.latest),
            err=True,
        )
        return USER_ERROR
    if report.version > report.latest:
        click.echo(
            _(
                "the schema ({version}) is newer than this jivocrm knows ({latest}): "
                "upgrade jivocrm on this machine"
            ).format(version=report.version, latest=report.latest),
            err=True,
        )
        return USER_ERROR
    return OK


PATH = click.argument("path", type=click.Path(path_type=Path), default=Path("."))
URL = click.option("--url", help="A store URL instead of the project's `store:`.")


@click.group("store")
def command() -> None:
    """The store's schema (migrate) and health (check)."""


@command.command("migrate")
@PATH
@URL
@FORMAT
def migrate_command(path: Path, url: str | None, fmt: str) -> None:
    """Apply the store's pending schema migrations and name them."""
    finish(guarded(lambda: migrate_store(path, url, fmt)))


@command.command("check")
@PATH
@URL
@FORMAT
def check_command(path: Path, url: str | None, fmt: str) -> None:
    """Is the store reachable, is its schema current, how much does it hold."""
    finish(guarded(lambda: check_store(path, url, fmt)))


__all__ = ["check_store", "command", "inspect", "migrate_store"]
