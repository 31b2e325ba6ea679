"""`jivocrm init --lang ru` writes the same project in Russian: its comments, README, .env.example
and `language: ru`; the data of every file is that of the English project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from jivocrm.cli import cli
from jivocrm.engine.project import load_project
from jivocrm.scaffold import crm_types
from jivocrm.scaffold.comments import localize, messages, split_comment

# Words left in English once quoted values, code and addresses are set aside.
VERBATIM = re.compile(r"'[^']*'|«[^»]*»|`[^`]*`|\$\{[^}]*\}|\S+://\S+|<[^>]*>")
ENGLISH = re.compile(r"\b[a-z]{2,}\b(?:[ ]+\b[a-z]+\b)+")


def init(root: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["init", str(root), *args])
    assert result.exit_code == 0, result.output
    return result.output


def data(path: Path) -> object:
    return YAML(typ="safe", pure=True).load(path.read_text("utf-8"))


@pytest.mark.parametrize("crms", [[c] for c in crm_types()] + [crm_types()])
def test_a_russian_project_differs_from_the_english_one_only_in_what_people_read(
    tmp_path: Path, crms: list[str]
) -> None:
    options = [a for crm in crms for a in ("--crm", crm)]
    said = init(tmp_path / "ru", *options, "--emulate", "--lang", "ru")
    init(tmp_path / "en", *options, "--emulate")
    assert "создан проект jivocrm" in said
    ru_files = sorted(p.relative_to(tmp_path / "ru") for p in (tmp_path / "ru").rglob("*.y*ml"))
    en_files = sorted(p.relative_to(tmp_path / "en") for p in (tmp_path / "en").rglob("*.y*ml"))
    assert ru_files == en_files
    for name in ru_files:
        ru, en = data(tmp_path / "ru" / name), data(tmp_path / "en" / name)
        if str(name) == "jivocrm.yaml":
            assert isinstance(ru, dict)
            assert isinstance(en, dict)
            assert (ru.pop("language"), en.pop("language")) == ("ru", "en")
        assert ru == en, name
        text = (tmp_path / "ru" / name).read_text("utf-8")
        for line, comment in messages(text):
            assert ENGLISH.findall(VERBATIM.sub(" ", comment)) == [], (name, line, comment)
    project, problems = load_project(tmp_path / "ru")
    assert project is not None, problems
    assert project.language == "ru"
    readme = (tmp_path / "ru" / "README.md").read_text("utf-8")
    assert "Этот проект превращает события чатов Jivo" in readme
    assert "Скопируйте в .env" in (tmp_path / "ru" / ".env.example").read_text("utf-8")


def test_a_comment_after_a_value_and_a_block_of_comments_are_translated_apart() -> None:
    from jivocrm.core import i18n

    text = (
        "# The jivocrm project: where Jivo posts, which CRM accounts bundles write to.\n"
        "# Secrets are environment variables written as ${JIVO_SHOP_TOKEN} (see .env.example);\n"
        "# `jivocrm validate` needs none of their values.\n"
        'name: "Чат Jivo #{{ event.chat_id }}"   # the channel\'s name from jivocrm.yaml\n'
        "# default: Ольга Петрова   # the user to take when the operator has no CRM account\n"
    )
    assert localize(text) == text
    with i18n.language("ru"):
        said = localize(text).splitlines()
    assert said[0].startswith("# Проект jivocrm:")
    assert said[3] == 'name: "Чат Jivo #{{ event.chat_id }}"   # имя канала из jivocrm.yaml'
    assert said[4] == (
        "# default: Ольга Петрова   # пользователь, если у оператора нет учётной записи в CRM"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("a: 1  # note", ("a: 1  ", " note")),
        ('a: "x #y"', None),
        ("a: 'it''s #1'  # n", ("a: 'it''s #1'  ", " n")),
        ("url: a#b", None),
        ("# all", ("", " all")),
    ],
)
def test_comments_are_found_outside_quotes(line: str, expected: tuple[str, str] | None) -> None:
    assert split_comment(line) == expected
