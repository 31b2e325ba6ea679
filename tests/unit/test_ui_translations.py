"""The journal pages' messages (Jinja2's i18n, ``%(name)s`` placeholders, always formatted with
``%``) keep their placeholders in Russian and format without error, so a page never shows a
Python error or the wrong value in place of a translated sentence."""

from __future__ import annotations

import re

from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from jivocrm.core import i18n

PO = i18n.LOCALE_DIR / "ru" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
PERCENT = re.compile(r"%\((\w+)\)s")


def template_messages() -> list[Message]:
    with PO.open("rb") as source:
        catalogue = read_po(source, locale="ru")
    return [m for m in catalogue if m.id and "python-format" in m.flags]


def forms(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def test_the_pages_have_messages() -> None:
    assert len(template_messages()) > 20


def test_page_translations_keep_their_placeholders() -> None:
    lost = []
    for message in template_messages():
        wanted = set().union(*(set(PERCENT.findall(i)) for i in forms(message.id)))
        for text in forms(message.string):
            if set(PERCENT.findall(text)) != wanted:
                lost.append((forms(message.id)[0], text))
    assert lost == []


def test_page_translations_format_as_jinja_formats_them() -> None:
    broken = []
    for message in template_messages():
        values = {name: "x" for i in forms(message.id) for name in PERCENT.findall(i)}
        for text in forms(message.string):
            try:
                text % values
            except (KeyError, ValueError, TypeError) as exc:  # a lone % or a lost name
                broken.append((forms(message.id)[0], repr(exc)))
    assert broken == []
