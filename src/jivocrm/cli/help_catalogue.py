"""The Babel extraction method of the CLI modules (babel.cfg): the marked messages, as for every
module, plus what click shows as help without a marker — each command's docstring (whole, and
the first sentence a command list shows) and each option's ``help=``. So help texts stay plain
English in the code and ``tests/unit/test_translations.py`` still finds every one untranslated.
"""

from __future__ import annotations

import ast
import inspect
import io
from collections.abc import Collection, Iterator
from typing import IO, Any

CLICK_CALLS = frozenset({"command", "group", "option", "argument", "Option", "Argument"})

Extracted = tuple[int, str | None, str | tuple[str, ...], list[str]]


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def first_sentence(help_text: str) -> str:
    """The text click's command lists show for ``help_text`` when nothing cuts it short."""
    words = help_text.partition("\n\n")[0].split()
    for i, word in enumerate(words):
        if word.endswith(".") and (i == len(words) - 1 or not words[i + 1][0].islower()):
            return " ".join(words[: i + 1])
    return " ".join(words)


def help_texts(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every docstring of a click command and every ``help=`` in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and any(
            _name(d) in CLICK_CALLS for d in node.decorator_list
        ):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                text = inspect.cleandoc(doc).partition("\f")[0]
                yield node.lineno, text
                if (short := first_sentence(text)) != text:
                    yield node.lineno, short
        if isinstance(node, ast.Call) and _name(node) in CLICK_CALLS:
            for keyword in node.keywords:
                value = keyword.value
                if (
                    keyword.arg == "help"
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    yield value.lineno, inspect.cleandoc(value.value)


def extract(
    fileobj: IO[bytes], keywords: Any, comment_tags: Collection[str], options: Any
) -> Iterator[Extracted]:
    """Babel's extraction method signature; yields (line, function, message, comments)."""
    from babel.messages.extract import extract_python

    raw = fileobj.read()
    found: Iterator[Any] = extract_python(io.BytesIO(raw), keywords, comment_tags, options)
    yield from found
    for line, text in help_texts(raw.decode("utf-8")):
        yield line, None, text, []


__all__ = ["extract", "first_sentence", "help_texts"]
