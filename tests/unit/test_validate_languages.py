"""`validate` in Russian over every broken project of tests/corpus/: each diagnostic in Russian,
at the same file, line and column, with the same exit code; the machine formats (json, github)
byte-identical to English; each diagnostic with a stable code from the documented list."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from jivocrm.cli import cli
from jivocrm.core import i18n
from jivocrm.core.diagnostics import CODES
from jivocrm.engine.project import load_project
from jivocrm.testing.daemon import jivocrm

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "jivocrm.yaml").exists())
# `file:line:col: path: message` (path and position as the English output has them)
LINE = re.compile(r"^(?P<where>[^:]+(?::\d+:\d+)?): (?:(?P<path>[^ ]+(?: \([^)]*\))?[^ ]*): )?")
# What stays as written in any language: quoted values, code, references, placeholders.
VERBATIM = re.compile(r"'[^']*'|«[^»]*»|`[^`]*`|\$\{[^}]*\}|\{\{.*?\}\}|\([^)]*\bjivocrm\b[^)]*\)")
ENGLISH = re.compile(r"\b[a-z]{2,}\b(?:[ ]+\b[a-z]+\b)+")
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def validate(case: str, language: str, *args: str) -> tuple[int, str, str]:
    with i18n.language(language):
        result = CliRunner().invoke(cli, ["validate", str(CORPUS / case), *args])
    return result.exit_code, result.stdout, result.stderr


def message(line: str) -> str:
    found = LINE.match(line)
    assert found is not None, line
    return line[found.end() :]


def english_left(text: str) -> list[str]:
    return ENGLISH.findall(VERBATIM.sub(" ", text))


@pytest.mark.parametrize("case", CASES)
def test_every_diagnostic_reads_in_russian(case: str) -> None:
    _code, out, _err = validate(case, "ru")
    lines = out.splitlines()
    assert lines
    for line in lines:
        text = message(line)
        assert CYRILLIC.search(text), line
        assert english_left(text) == [], line


@pytest.mark.parametrize("case", CASES)
def test_positions_paths_and_exit_codes_are_the_same_in_russian(case: str) -> None:
    en_code, en_out, _ = validate(case, "en")
    ru_code, ru_out, _ = validate(case, "ru")
    assert ru_code == en_code == 1
    assert [LINE.match(x).group() for x in ru_out.splitlines()] == [  # type: ignore[union-attr]
        LINE.match(x).group()  # type: ignore[union-attr]
        for x in en_out.splitlines()
    ]
    assert en_out == (CORPUS / case / "expected.txt").read_text("utf-8")
    # the check for English words finds them where they are
    assert all(english_left(message(x)) for x in en_out.splitlines())


@pytest.mark.parametrize("fmt", ["json", "github"])
@pytest.mark.parametrize("case", CASES)
def test_machine_formats_do_not_change_with_the_language(case: str, fmt: str) -> None:
    assert validate(case, "ru", "--format", fmt) == validate(case, "en", "--format", fmt)


@pytest.mark.parametrize("case", CASES)
def test_each_diagnostic_has_a_documented_code(case: str) -> None:
    _project, problems = load_project(CORPUS / case)
    assert problems
    for problem in problems:
        assert problem.code in CODES, problem


def test_the_summary_counts_in_russian_plural_forms() -> None:
    said = {case: validate(case, "ru")[2].strip() for case in ("unknown-connection", "schema")}
    said["filter"] = validate("filter", "ru")[2].strip()
    said["multi-file"] = validate("multi-file", "ru")[2].strip()
    assert said == {
        "unknown-connection": "1 ошибка в 1 файле",
        "schema": "2 ошибки в 1 файле",
        "filter": "6 ошибок в 1 файле",
        "multi-file": "3 ошибки в 3 файлах",
    }


def _process(case: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "JIVOCRM_"))}
    return subprocess.run(
        [*jivocrm(), "validate", *args],
        cwd=CORPUS / case,
        env={**clean, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("case", ["multi-file", "snapshot-names"])
def test_lang_ru_in_the_environment_as_a_real_process(case: str) -> None:
    ru = _process(case, {"LANG": "ru_RU.UTF-8"})
    en = _process(case, {"LANG": "en_US.UTF-8"})
    assert ru.returncode == en.returncode == 1
    ru_lines, en_lines = ru.stdout.decode().splitlines(), en.stdout.decode().splitlines()
    assert en_lines == (CORPUS / case / "expected.txt").read_text("utf-8").splitlines()
    assert [message(x) for x in ru_lines] != [message(x) for x in en_lines]
    for ru_line, en_line in zip(ru_lines, en_lines, strict=True):
        assert LINE.match(ru_line).group() == LINE.match(en_line).group()  # type: ignore[union-attr]
        assert english_left(message(ru_line)) == [], ru_line
    assert "ошиб" in ru.stderr.decode()
    ru_json = _process(case, {"LANG": "ru_RU.UTF-8"}, "--format", "json")
    en_json = _process(case, {"LANG": "en_US.UTF-8"}, "--format", "json")
    assert ru_json.stdout == en_json.stdout
    assert [d["code"] for d in json.loads(en_json.stdout)] == [
        d["code"] for d in json.loads(ru_json.stdout)
    ]
