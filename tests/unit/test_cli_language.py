"""Which language the CLI speaks: --lang (on the group or the command), JIVOCRM_LANG, the
project's `language:`, then LANGUAGE/LC_ALL/LC_MESSAGES/LANG, then English — help included."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from jivocrm.cli import cli
from jivocrm.cli.language import choose, from_project
from jivocrm.core import i18n
from jivocrm.engine.project import load_project
from jivocrm.testing.daemon import jivocrm

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "corpus" / "unknown-connection"
RUSSIAN = "неизвестное подключение «amoo»"
ENGLISH = "unknown connection 'amoo'"


def project(tmp_path: Path, language: str | None) -> Path:
    """The broken corpus project, copied, with ``language:`` set (or not)."""
    for source in (BROKEN / "bundles").iterdir():
        (tmp_path / "bundles").mkdir(exist_ok=True)
        (tmp_path / "bundles" / source.name).write_bytes(source.read_bytes())
    text = (BROKEN / "jivocrm.yaml").read_text("utf-8")
    if language is not None:
        text += f"language: {language}\n"
    (tmp_path / "jivocrm.yaml").write_text(text, "utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "environ", "expected"),
    [
        (["--lang", "ru", "validate"], {"LANG": "en_US.UTF-8"}, "ru"),
        (["validate", "--lang", "ru"], {}, "ru"),
        (["validate", "--lang=en"], {"LANG": "ru_RU.UTF-8"}, "en"),
        (["validate"], {"JIVOCRM_LANG": "ru", "LANG": "en_US.UTF-8"}, "ru"),
        (["validate"], {"LANG": "ru_RU.UTF-8"}, "ru"),
        (["validate"], {"LC_ALL": "C", "LANG": "ru_RU.UTF-8"}, "en"),
        (["validate"], {}, "en"),
        (["validate", "--", "--lang", "ru"], {}, "en"),
    ],
)
def test_the_language_is_chosen_in_order(
    args: list[str], environ: dict[str, str], expected: str, tmp_path: Path
) -> None:
    os.chdir(tmp_path)  # no project here
    assert choose(args, environ) == expected


def test_the_project_file_names_the_language_under_the_options(tmp_path: Path) -> None:
    root = project(tmp_path, "ru")
    assert from_project(root / "jivocrm.yaml") == "ru"
    assert choose(["validate", str(root)], {"LANG": "en_US.UTF-8"}) == "ru"
    assert choose(["run", "--project", str(root), "e.json"], {}) == "ru"
    assert choose(["validate", "--format", "json", str(root)], {}) == "ru"
    assert choose(["serve", "--port", "8081", str(root)], {}) == "ru"
    assert choose(["validate", str(root), "--lang", "en"], {}) == "en"
    assert choose(["validate", str(root)], {"JIVOCRM_LANG": "en"}) == "en"


def test_language_is_part_of_the_project_schema(tmp_path: Path) -> None:
    root = project(tmp_path, "fr")
    _project, problems = load_project(root)
    assert any(p.path == "language" and p.code == "unknown-value" for p in problems)


@pytest.mark.parametrize("args", [["--lang", "ru", "validate"], ["validate", "--lang", "ru"]])
def test_lang_is_accepted_on_the_group_and_on_the_command(args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, str(BROKEN)])
    assert result.exit_code == 1
    assert RUSSIAN in result.stdout
    assert i18n.current() == "en", "a command's language does not outlive it"


def test_every_command_takes_lang() -> None:
    from jivocrm.cli import COMMANDS

    for name in COMMANDS:
        result = CliRunner().invoke(cli, [name, "--lang", "ru", "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "--lang" in result.stdout


def test_help_is_translated() -> None:
    with i18n.language("ru"):
        top = " ".join(CliRunner().invoke(cli, ["--help"]).stdout.split())
        own = " ".join(CliRunner().invoke(cli, ["validate", "--help"]).stdout.split())
    assert "Использование:" in top
    assert "Команды" in top
    assert "Проверить проект (по умолчанию — в текущей папке) и все его связки." in top
    assert "Показать эту справку и выйти." in own
    assert "github выводит аннотации GitHub Actions." in own
    assert "[по умолчанию: text]" in own
    english = CliRunner().invoke(cli, ["validate", "--help"]).stdout
    assert "Usage:" in english
    assert "github prints GitHub Actions annotations." in english


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "JIVOCRM_"))}
    return subprocess.run(
        [*jivocrm(), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_real_process_follows_the_project_then_the_options(tmp_path: Path) -> None:
    root = project(tmp_path, "ru")
    assert RUSSIAN in _run(["validate"], root, {"LANG": "en_US.UTF-8"}).stdout
    assert ENGLISH in _run(["validate", "--lang", "en"], root, {}).stdout
    assert ENGLISH in _run(["validate"], root, {"JIVOCRM_LANG": "en"}).stdout
    help_text = _run(["--help"], root, {}).stdout
    assert "Использование:" in help_text


def test_the_daemon_banner_and_the_bundle_list_in_russian(tmp_path: Path) -> None:
    from jivocrm.cli import banner

    assert (
        CliRunner().invoke(cli, ["init", str(tmp_path), "--crm", "amocrm", "--emulate"]).exit_code
        == 0
    )
    project, _problems = load_project(tmp_path)
    assert project is not None
    with i18n.language("ru"):
        said = banner.lines(
            project, "http://127.0.0.1:8080", {"amo": "http://127.0.0.1:9"}, "sqlite://"
        )
    assert said[0].endswith("(Ctrl-C — остановить)")
    assert "  подключение amo: amoCRM / Kommo, встроенный эмулятор на http://127.0.0.1:9" in said
    listed = CliRunner().invoke(
        cli, ["bundles", "list", "--project", str(tmp_path), "--lang", "ru"]
    )
    assert listed.exit_code == 0, listed.output
    assert "связка" in listed.stdout
    assert "состояние" in listed.stdout
    assert "выполняется" in listed.stdout  # no bundle is held


def _commands() -> list[list[str]]:
    import click

    from jivocrm.cli import COMMANDS

    found: list[list[str]] = []
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        found.append([name])
        if isinstance(command, click.Group):
            found.extend([name, sub] for sub in command.commands)
    return found


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_every_help_text_of_every_command_reads_in_russian(words: list[str]) -> None:
    import re

    with i18n.language("ru"):
        text = CliRunner().invoke(cli, [*words, "--help"], terminal_width=200).stdout
    # the description, and each option's text after its name
    sections = text.split("\n\n")
    helps = [line.strip() for line in sections[1].splitlines()] if len(sections) > 1 else []
    rows = [re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines()]
    helps += [row[1] for row in rows if len(row) == 2 and row[0].startswith("-")]
    assert helps
    cyrillic = re.compile("[а-яё]", re.IGNORECASE)
    assert [h for h in helps if h and not cyrillic.search(h)] == [], text
