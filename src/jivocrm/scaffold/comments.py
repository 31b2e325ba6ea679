"""The comments of the files ``init`` writes, in the reader's language.

The scaffold templates (here and in ``connectors/<crm>/scaffold/``) are written in English. A
run of whole-line comments is one message (translated as a block, so a translation may take more
or fewer lines); a comment after a value is one message of its own; a commented-out line of YAML
(``# default: Ольга Петрова   # the user to take…``) keeps its YAML and translates its comment.
``extract`` gives babel the same messages (babel.cfg), so the translations test sees each one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import IO, Any

from jivocrm.core.i18n import _

# Lines no translation may touch: editors read them.
MACHINE_COMMENTS = ("yaml-language-server:",)


def split_comment(line: str) -> tuple[str, str] | None:
    """(what comes before the comment, the comment's text after ``#``), or None without one.

    A ``#`` starts a comment at the start of a line or after a blank, outside quotes."""
    quote = ""
    index = -1
    while index + 1 < len(line):
        index += 1
        char = line[index]
        if quote:
            if char == "'" == quote and line[index + 1 : index + 2] == "'":
                index += 1  # '' is a quote inside single quotes
            elif char == "\\" and quote == '"':
                index += 1  # an escape inside double quotes
            elif char == quote:
                quote = ""
        elif char in "'\"" and (index == 0 or line[index - 1] in " \t[{:,"):
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index], line[index + 1 :]
    return None


@dataclass
class _Comment:
    first: int  # index of its first line
    lines: list[str]  # the lines it spans, as written
    code: str  # what stands before the `#` (the indentation, for a whole-line comment)
    text: str  # the message: the comment's text (lines joined by "\n")
    block: bool


def _text(raw: str) -> str:
    return raw[1:] if raw.startswith(" ") else raw


def _comments(lines: list[str]) -> Iterator[_Comment]:
    index = 0
    while index < len(lines):
        found = split_comment(lines[index])
        if found is None or any(found[1].strip().startswith(m) for m in MACHINE_COMMENTS):
            index += 1
            continue
        code, raw = found
        if code.strip():
            yield _Comment(index, [lines[index]], code, _text(raw).rstrip(), block=False)
            index += 1
            continue
        inner = split_comment(_text(raw))
        if inner is not None and inner[0].strip():
            # commented-out YAML with a comment of its own
            yield _Comment(index, [lines[index]], code + "# " + inner[0], _text(inner[1]), False)
            index += 1
            continue
        start, texts = index, []
        while index < len(lines):
            more = split_comment(lines[index])
            if more is None or more[0] != code or split_comment(_text(more[1])) is not None:
                break
            texts.append(_text(more[1]).rstrip())
            index += 1
        yield _Comment(start, lines[start:index], code, "\n".join(texts), block=True)


def messages(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line, message) of each comment of ``text`` with words in it."""
    for comment in _comments(text.splitlines()):
        if any(c.isalpha() for c in comment.text):
            yield comment.first + 1, comment.text


def localize(text: str) -> str:
    """``text`` with its comments in the current language (as it is, in English)."""
    lines = text.splitlines(keepends=False)
    out: list[str] = []
    index = 0
    for comment in _comments(lines):
        out.extend(lines[index : comment.first])
        index = comment.first + len(comment.lines)
        said = _(comment.text) if any(c.isalpha() for c in comment.text) else comment.text
        if said == comment.text:
            out.extend(comment.lines)
        elif comment.block:
            out.extend(f"{comment.code}# {line}".rstrip() for line in said.split("\n"))
        else:
            out.append(f"{comment.code}# {said}")
    out.extend(lines[index:])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def extract(
    fileobj: IO[bytes], keywords: Any, comment_tags: Collection[str], options: Any
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel's extraction method for the scaffold templates (babel.cfg)."""
    for line, message in messages(fileobj.read().decode("utf-8")):
        yield line, None, message, []


__all__ = ["extract", "localize", "messages", "split_comment"]
