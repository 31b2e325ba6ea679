"""What the CLI prints for people to paste or read: YAML that parses and validates, commands that
exist, help that starts without importing every command, a pipe closed early that is no crash."""

from __future__ import annotations

import importlib
import io
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from jivocrm.cli import COMMANDS, cli
from jivocrm.cli.emulate import snippet
from jivocrm.connectors import CONNECTORS
from jivocrm.engine.project import load_project
from jivocrm.testing.daemon import jivocrm

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("crm", sorted(CONNECTORS))
def test_the_emulate_snippet_parses_and_makes_a_valid_project(tmp_path: Path, crm: str) -> None:
    text = snippet(crm, "http://127.0.0.1:8090")
    pasted = YAML(typ="safe").load(io.StringIO(text))
    assert list(pasted) == ["connections"]
    assert CliRunner().invoke(cli, ["init", str(tmp_path), "--crm", crm]).exit_code == 0
    project_file = tmp_path / "jivocrm.yaml"
    before = project_file.read_text("utf-8")
    kept = before[: before.index("connections:\n")]
    project_file.write_text(kept + text, "utf-8")
    project, problems = load_project(tmp_path)
    assert [p.format() for p in problems] == []
    assert project is not None
    (connection,) = project.connections.values()
    assert connection.type == crm


def test_every_command_init_suggests_is_a_command_that_exists(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "p"), "--crm", "amocrm"])
    steps = result.output.split("next:\n", 1)[1].splitlines()
    for step in steps:
        words = shlex.split(step, comments=True)
        if words[0] == "jivocrm":
            assert words[1] in COMMANDS, step
        else:
            assert words[0] in ("cd", "cp"), step


def test_the_command_list_matches_each_commands_own_help() -> None:
    for name, (module, summary) in COMMANDS.items():
        command = importlib.import_module(module).command
        assert summary == command.get_short_help_str(limit=1000), name
    assert sorted(COMMANDS) == sorted(
        p.stem
        for p in (ROOT / "src/jivocrm/cli").glob("*.py")
        if hasattr(importlib.import_module(f"jivocrm.cli.{p.stem}"), "command")
    )


def imported_after(*args: str) -> set[str]:
    """The jivocrm and third-party modules a fresh ``jivocrm ARGS`` process has imported."""
    code = (
        "import sys\nfrom jivocrm.cli import main\nsys.argv = ['jivocrm', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT / "bundles",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return set(done.stderr.split())


def test_help_imports_no_command() -> None:
    modules = imported_after("--help")
    # the CLI's own plumbing (the language choice) loads; no command module does
    commands = {module for module, _summary in COMMANDS.values()}
    assert not {m for m in modules if m.startswith("jivocrm.cli.")} & commands
    assert {m for m in modules if m.startswith("jivocrm.cli.")} <= {"jivocrm.cli.language"}
    assert not {"aiohttp", "structlog", "jsonschema", "jinja2"} & modules


def test_validate_imports_neither_the_daemon_nor_the_http_client() -> None:
    modules = imported_after("validate")
    assert not {"aiohttp", "structlog", "phonenumbers", "jivocrm.server"} & modules
    assert "jivocrm.cli.validate" in modules


def test_the_cli_reference_names_commands_as_users_type_them() -> None:
    text = (ROOT / "docs" / "cli.md").read_text("utf-8")
    assert "Usage: jivocrm validate [OPTIONS] [PATH]" in text
    assert "jivocrm jivocrm" not in text


def test_a_reader_that_leaves_early_is_not_a_crash(tmp_path: Path) -> None:
    # `head` leaves after the first result; the bundle tests go on printing for seconds.
    project = tmp_path / "p"
    assert CliRunner().invoke(cli, ["init", str(project), "--crm", "bitrix24"]).exit_code == 0
    shell = f"{shlex.join(jivocrm())} test | head -1"
    done = subprocess.run(
        ["bash", "-c", shell], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("PASS ")
    assert "crash" not in done.stderr
    assert not list(project.rglob("crash-*"))
