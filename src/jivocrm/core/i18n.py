"""The language people read: gettext catalogues, English as the source and the default.

Every text a person reads goes through ``_`` (or ``ngettext`` where a number decides the form;
Russian has three: 1 ошибка, 2 ошибки, 5 ошибок). Machine-readable output — JSON, the GitHub
annotations, log event names and fields, metric names, codes — never does, so it stays the same
in every language.

A text made now but read later (a diagnostic, a refusal reason kept in the journal) is a
:class:`Text`: a ``str`` holding the English sentence, which also remembers its template and
values, so it can be shown in the reader's language when it is shown (``localized``).

The language of a command or a request lives in a context variable, so the daemon's pages can
answer two browsers in two languages at once. Catalogues are ``.po`` files under
``jivocrm/locale/<lang>/LC_MESSAGES/``, compiled to ``.mo`` when the package is built or
installed (``hatch_build.py``); where no ``.mo`` is found, English is shown.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

DOMAIN = "jivocrm"
SOURCE = "en"
LANGUAGES = ("en", "ru")
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
# The variables gettext reads, in the order it reads them.
LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_current: ContextVar[str] = ContextVar("jivocrm_language", default=SOURCE)


@functools.cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The translations of ``language`` (English, the source, has none)."""
    if language == SOURCE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, [language], fallback=True)


def normalize(value: str | None) -> str | None:
    """``ru_RU.UTF-8`` → ``ru``; None for what names no language jivocrm has."""
    if not value:
        return None
    code = value.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The language the environment asks for, as gettext reads it; None where it asks for none
    or only for the C locale. ``LANGUAGE`` may list several (``ru:en``): the first known wins."""
    environ = os.environ if environ is None else environ
    for name in LANGUAGE_VARIABLES:
        value = environ.get(name)
        if not value:
            continue
        if value in ("C", "POSIX") or value.startswith("C."):
            return None
        for part in value.split(":"):
            if (language := normalize(part)) is not None:
                return language
        return None
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best language of an ``Accept-Language`` header (RFC 9110 §12.5.4) jivocrm has."""
    choices: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")):
        tag, _sep, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = normalize(tag)
        if language is not None and weight > 0:
            choices.append((weight, -position, language))  # equal weights: the header's order
    return max(choices)[2] if choices else None


def current() -> str:
    return _current.get()


def set_language(language: str | None) -> None:
    """Make ``language`` (None: English) the language of this context from now on."""
    _current.set(normalize(language) or SOURCE)


@contextlib.contextmanager
def language(value: str | None) -> Iterator[str]:
    """Speak ``value`` inside the block (a request, a test)."""
    token = _current.set(normalize(value) or SOURCE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def _(message: str) -> str:
    """``message`` in the current language."""
    return catalogue(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the current language."""
    return catalogue(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a text for the catalogue where it is translated later (a table of messages)."""
    return message


class Text(str):
    """A sentence made now and read later: the English text, plus what it takes to say it again
    in another language. ``Text("unknown step type '{type}'", type=t)`` equals the English
    sentence everywhere a ``str`` is used (JSON, comparisons, logs)."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Text:
        text = super().__new__(cls, template.format(**values) if values else template)
        text.template = template
        text.values = values
        return text

    def localized(self) -> str:
        translated = _(self.template)
        if not self.values:
            return translated
        return translated.format(**{k: localized(v) for k, v in self.values.items()})


class Joined(Text):
    """Texts joined by ``separator`` (``"; "``): each is read in the reader's language."""

    def __new__(cls, separator: str, parts: list[str], /) -> Joined:
        text = str.__new__(cls, separator.join(parts))
        text.template, text.values = separator.join(parts), {}
        text.parts, text.separator = list(parts), separator
        return text

    parts: list[str]
    separator: str

    def localized(self) -> str:
        return self.separator.join(localized(part) for part in self.parts)

    def __reduce__(self) -> Any:
        return (Joined, (self.separator, self.parts))


def localized(text: object) -> str:
    """``text`` in the current language where it is a :class:`Text`, else as it is."""
    return text.localized() if isinstance(text, Text) else str(text)
