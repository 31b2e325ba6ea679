"""Every text a person reads has its Russian translation, with the same placeholders.

The messages are extracted from the code as ``make catalogues`` does (babel.cfg), so a message
added without a translation fails here, and so does a translation that lost a ``{placeholder}``
(it would raise or print the wrong value at run time)."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from jivocrm.core import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "jivocrm"
KEYWORDS = {"_": None, "N_": None, "Text": None, "Problem": (2,), "ngettext": (1, 2)}
TRANSLATED = [language for language in i18n.LANGUAGES if language != i18n.SOURCE]


def code_messages() -> dict[str, tuple[str, ...]]:
    """msgid → its forms (one, or singular and plural), as found in the code and templates."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, tuple[str, ...]] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map, options_map, keywords=KEYWORDS
    ):
        forms = (message,) if isinstance(message, str) else tuple(message)
        if forms[0]:
            found[forms[0]] = forms
    return found


def catalogue(language: str) -> Catalog:
    path = PACKAGE / "locale" / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with path.open("rb") as source:
        return read_po(source, locale=language)


def placeholders(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


def translations(message: Message) -> Iterator[str]:
    yield from ((message.string,) if isinstance(message.string, str) else message.string)


def test_the_code_has_messages_to_translate() -> None:
    assert len(code_messages()) > 0


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str) -> None:
    po = catalogue(language)
    missing = []
    for msgid in code_messages():
        entry = po.get(msgid)
        if entry is None or entry.fuzzy or not all(translations(entry)):
            missing.append(msgid)
    assert missing == [], (
        f"untranslated in {language} (run `make catalogues`, translate): {missing}"
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_their_placeholders(language: str) -> None:
    lost = []
    for entry in catalogue(language):
        if not entry.id:
            continue
        ids = (entry.id,) if isinstance(entry.id, str) else entry.id
        wanted = set().union(*(placeholders(i) for i in ids))
        for text in translations(entry):
            if text and placeholders(text) != wanted:
                lost.append((ids[0], text))
    assert lost == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_plural_forms_are_all_given(language: str) -> None:
    po = catalogue(language)
    for entry in po:
        if entry.id and entry.pluralizable:
            assert len(list(translations(entry))) == po.num_plurals, entry.id


def test_russian_plurals_follow_the_number() -> None:
    with i18n.language("ru"):
        said = [
            i18n.ngettext("{count} error {in_files}", "{count} errors {in_files}", n).format(
                count=n, in_files=""
            )
            for n in (1, 2, 5, 11, 21, 22)
        ]
    assert [s.split()[1] for s in said] == [
        "ошибка",
        "ошибки",
        "ошибок",
        "ошибок",
        "ошибка",
        "ошибки",
    ]


def test_english_is_the_source_and_the_default() -> None:
    assert i18n.current() == "en"
    assert i18n._("{count} error {in_files}") == "{count} error {in_files}"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "ru_RU.UTF-8"}, "ru"),
        ({"LC_MESSAGES": "ru_RU", "LANG": "en_GB"}, "ru"),
        ({"LANGUAGE": "de:ru", "LANG": "en_US"}, "ru"),
        ({"LC_ALL": "C", "LANG": "ru_RU.UTF-8"}, None),
        ({"LANG": "de_DE.UTF-8"}, None),
        ({}, None),
    ],
)
def test_language_from_the_environment(environ: dict[str, str], expected: str | None) -> None:
    assert i18n.from_environment(environ) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("en-US,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE,ru;q=0.5,en;q=0.4", "ru"),
        ("ru;q=0, en", "en"),
        ("", None),
        ("*", None),
    ],
)
def test_language_from_accept_language(header: str, expected: str | None) -> None:
    assert i18n.from_accept_language(header) == expected


def test_a_text_made_now_is_read_in_the_readers_language() -> None:
    hint = i18n.Text(" (did you mean '{choice}'?)", choice="steps")
    text = i18n.Text("unknown key '{key}'{hint}", key="stpes", hint=hint)
    assert text == "unknown key 'stpes' (did you mean 'steps'?)"
    with i18n.language("ru"):
        assert i18n.localized(text) == "неизвестный ключ «stpes» (может быть, «steps»?)"
    assert i18n.localized(text) == "unknown key 'stpes' (did you mean 'steps'?)"
