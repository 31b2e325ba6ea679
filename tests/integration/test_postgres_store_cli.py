"""``jivocrm store migrate|check`` on a SQLite project and on a PostgreSQL database."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from jivocrm.cli import cli
from jivocrm.store.queries import migrations
from jivocrm.testing.store_contract import pg_dsn

PROJECT = """\
version: 1
store: "${STORE_URL:-sqlite:///.jivocrm/jivocrm.db}"
channels: {}
connections: {}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "bundles").mkdir()
    (tmp_path / "jivocrm.yaml").write_text(PROJECT, "utf-8")
    return tmp_path


@pytest.fixture
def pg_url() -> Iterator[str]:
    dsn = pg_dsn()
    name = f"jivocrm_test_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    try:
        yield dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def store(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["store", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_migrate_names_what_it_applies_to_a_new_sqlite_store(project: Path) -> None:
    code, out = store("migrate", str(project))
    assert (code, out.splitlines()[0]) == (0, "applied 0001_initial.sql")


def test_migrate_twice_applies_nothing_the_second_time(project: Path) -> None:
    store("migrate", str(project))
    code, out = store("migrate", str(project))
    assert (code, "applied" in out, "already at schema version" in out) == (0, False, True)


def test_check_counts_what_the_sqlite_store_holds(project: Path) -> None:
    store("migrate", str(project))
    code, out = store("check", str(project), "--format", "json")
    report = json.loads(out)
    assert (code, report["current"], report["counts"]["events"]) == (0, True, 0)


def test_check_of_a_missing_sqlite_store_fails(project: Path) -> None:
    code, _ = store("check", str(project))
    assert code == 1


@pytest.mark.postgres
def test_check_of_an_unmigrated_database_says_to_migrate(project: Path, pg_url: str) -> None:
    code, out = store("check", str(project), env={"STORE_URL": pg_url})
    assert (code, "jivocrm store migrate" in out) == (1, True)


@pytest.mark.postgres
def test_migrate_applies_every_postgresql_migration_in_order(project: Path, pg_url: str) -> None:
    code, out = store("migrate", str(project), env={"STORE_URL": pg_url})
    applied = [line.split()[1] for line in out.splitlines() if line.startswith("applied")]
    assert (code, applied) == (0, [m.name for m in migrations("postgres")])


@pytest.mark.postgres
def test_check_after_migrate_reports_a_current_schema(pg_url: str, project: Path) -> None:
    store("migrate", "--url", pg_url, str(project))
    code, out = store("check", "--url", pg_url, "--format", "json", str(project))
    report = json.loads(out)
    assert (code, report["current"], report["version"]) == (
        0,
        True,
        len(migrations("postgres")),
    )


def test_check_of_an_unreachable_server_is_one_error_line(project: Path) -> None:
    code, out = store("check", "--url", "postgresql://u:pw@127.0.0.1:1/x", str(project))
    assert (code, out.startswith("error: cannot connect"), "pw" in out) == (1, True, False)
