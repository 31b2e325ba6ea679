"""YAML loading with positions, and refusal of what a configuration file has no business holding.

ruamel.yaml's round-trip loader keeps the line and column of every key and item. Aliases, anchors,
merge keys and explicit tags are rejected: an alias bomb ("billion laughs") loads in microseconds
because aliases share one object, but every later walk (jsonschema, templates) expands it, so it
must be refused before anything walks it. Loading itself is bounded by a size cap, and nesting by a
depth cap. Plain documents are parsed by libyaml when PyYAML has it (loader_libyaml.py: the same
data, ~10× faster), everything else by ruamel.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import (
    CommentedMap,
    CommentedOrderedMap,
    CommentedSeq,
    CommentedSet,
    TaggedScalar,
)
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from jivocrm.core.diagnostics import Diagnostic, Problem, json_path
from jivocrm.core.i18n import N_, Text
from jivocrm.engine import loader_libyaml

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
TAGS_REFUSED = Problem("yaml-tag", "explicit YAML tags are not allowed; write plain values")


def too_large() -> Problem:
    return Problem("file-too-large", "file is larger than {size} KiB", size=MAX_FILE_BYTES // 1024)


def too_deep(depth: int) -> Problem:
    return loader_libyaml.too_deep(depth)


# ruamel.yaml's words for the usual mistakes, as templates a reader's language can say again;
# anything else is shown as ruamel.yaml says it.
YAML_PROBLEMS = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (
            r"expected (?P<expected>.+), but got (?P<found>.+)",
            N_("expected {expected}, but got {found}"),
        ),
        (
            r"expected (?P<expected>.+), but found (?P<found>.+)",
            N_("expected {expected}, but found {found}"),
        ),
        (r"mapping values are not allowed here", N_("mapping values are not allowed here")),
        (r"could not find expected (?P<expected>.+)", N_("could not find expected {expected}")),
        (r"did not find expected (?P<expected>.+)", N_("did not find expected {expected}")),
        (
            r"found character (?P<char>.+) that cannot start any token",
            N_("found character {char} that cannot start any token"),
        ),
        (r"found unexpected end of stream", N_("found unexpected end of stream")),
        (r"found unexpected (?P<found>.+)", N_("found unexpected {found}")),
        (r"found undefined alias (?P<alias>.+)", N_("found undefined alias {alias}")),
    )
)


def too_many(count: int) -> Problem:
    return Problem("too-many-values", "more than {count} values; split the file", count=count)


def _either(words: str) -> str:
    parts = words.split(" or ")
    return (
        Text("{first} or {second}", first=parts[0], second=parts[1]) if len(parts) == 2 else words
    )


def yaml_problem(problem: str) -> str:
    """``problem`` (ruamel.yaml's text) as a :class:`Text` where it is a usual one."""
    for pattern, template in YAML_PROBLEMS:
        found = pattern.fullmatch(problem.strip())
        if found is not None:
            return Text(template, **{k: _either(v) for k, v in found.groupdict().items()})
    return problem


@dataclass
class Document:
    """A loaded YAML file: its data and the name it is reported under."""

    file: str
    data: Any

    def position(self, path: tuple[str | int, ...], at_key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the node at ``path``, or of its nearest ancestor."""
        return position(self.data, path, at_key)


def position(data: Any, path: tuple[str | int, ...], at_key: bool = False) -> tuple[int, int]:
    node = data
    best = (1, 1)
    for i, part in enumerate(path):
        try:
            if isinstance(node, CommentedMap) and part in node:
                # The value's position when it is the last part and a scalar, else the key's.
                line, col = node.lc.key(part)
                last = i == len(path) - 1
                if last and not at_key and not isinstance(node[part], (CommentedMap, CommentedSeq)):
                    line, col = node.lc.value(part)
                best = (line + 1, col + 1)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line, col = node.lc.item(part)
                best = (line + 1, col + 1)
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return best


def _anchor(node: Any) -> str | None:
    anchor = getattr(node, "anchor", None)
    value = getattr(anchor, "value", None)
    return str(value) if value else None


def _walk(value: Any) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """Yield (problem, path) for anchors and aliases, merge keys, tags and excessive size/depth.

    Each anchored value is reported once and never descended into, so a bomb costs one message.
    """
    reported: set[int] = set()
    count = 0
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, where = stack.pop()
        count += 1
        if count > MAX_NODES:
            yield (too_many(MAX_NODES), where)
            return
        if len(where) > MAX_DEPTH:
            yield (too_deep(MAX_DEPTH), where)
            return
        anchor = _anchor(node)
        if anchor is not None:
            if id(node) not in reported:
                reported.add(id(node))
                yield (
                    Problem(
                        "yaml-anchor",
                        "YAML anchors and aliases (&{anchor}, *{anchor}) are not allowed; "
                        "repeat the value instead",
                        anchor=anchor,
                    ),
                    where,
                )
            continue
        if isinstance(node, (TaggedScalar, bytes, CommentedSet, CommentedOrderedMap)) or (
            isinstance(node, (CommentedMap, CommentedSeq)) and node.tag.value is not None
        ):
            # bytes, sets and ordered maps are what ruamel makes of !!binary, !!set, !!omap.
            yield (TAGS_REFUSED, where)
            continue
        if isinstance(node, CommentedMap):
            if node.merge:
                yield (
                    Problem(
                        "yaml-merge-key",
                        "YAML merge keys (<<) are not allowed; repeat the keys instead",
                    ),
                    where,
                )
                continue
            children: list[tuple[Any, tuple[str | int, ...]]] = []
            for key, item in node.items():
                if not isinstance(key, str):
                    message = Problem(
                        "key-not-text",
                        "keys must be text, not {kind} ({key})",
                        kind=type(key).__name__,
                        key=repr(key),
                    )
                    yield (message, where)
                    continue
                children.append((item, (*where, key)))
            stack.extend(reversed(children))
        elif isinstance(node, CommentedSeq):
            stack.extend(reversed([(item, (*where, i)) for i, item in enumerate(node)]))


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    return yaml


def _parse(text: str) -> tuple[Any, bool, loader_libyaml.Tagged | None]:
    """(data, whether it still needs ``_walk``, the first explicit tag if there is one)."""
    if loader_libyaml.available():
        try:
            return loader_libyaml.load(text, MAX_DEPTH, MAX_NODES), False, None
        except loader_libyaml.Tagged as found:
            tagged: loader_libyaml.Tagged | None = found
        except loader_libyaml.Unusual:
            tagged = None  # ruamel reads it: its data, refusals and messages
    else:
        tagged = loader_libyaml.explicit_tag(list(_yaml().parse(text)))
    return _yaml().load(text), True, tagged


def load_text(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Parse ``text``; on any problem return ``None`` and the diagnostics."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return None, [Diagnostic(file, 1, 1, "", too_large())]
    try:
        data, unchecked, tagged = _parse(text)
    except loader_libyaml.TooBig as exc:
        return None, [Diagnostic(file, exc.line, exc.column, "", exc.message)]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if "duplicate key" in str(problem) or type(exc).__name__ == "DuplicateKeyError":
            message = Problem(
                "duplicate-key", "YAML: duplicate key; each key may appear once in a mapping"
            )
        else:
            message = Problem("yaml-syntax", "YAML: {problem}", problem=yaml_problem(str(problem)))
        return None, [Diagnostic(file, line, col, "", message)]
    except RecursionError:
        return None, [Diagnostic(file, 1, 1, "", too_deep(MAX_DEPTH))]
    except YAMLError as exc:
        return None, [
            Diagnostic(
                file,
                1,
                1,
                "",
                Problem("yaml-syntax", "YAML: {problem}", problem=yaml_problem(str(exc))),
            )
        ]
    problems = list(_walk(data)) if unchecked else []
    diags = [
        Diagnostic(file, *position(data, where), json_path(where), message)
        for message, where in problems
    ]
    if tagged is not None and not any(message == TAGS_REFUSED for message, _ in problems):
        # A tag whose value ruamel builds without a trace of it (!!float 1, !!timestamp):
        # reported where the tag stands.
        message = Problem(
            "yaml-tag",
            "explicit YAML tags are not allowed; write plain values ({tag})",
            tag=_short_tag(tagged.tag),
        )
        diags.append(Diagnostic(file, tagged.line, tagged.column, "", message))
    if diags:
        return None, diags
    return Document(file, data), []


def load_file(path: Path, file: str | None = None) -> tuple[Document | None, list[Diagnostic]]:
    name = file or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [Diagnostic(name, 1, 1, "", too_large())]
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        message = Problem("unreadable-file", "cannot read: {reason}", reason=reason)
        return None, [Diagnostic(name, 0, 0, "", message)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = Problem(
            "not-utf8", "not UTF-8 text (byte {byte}); save it as UTF-8", byte=exc.start
        )
        return None, [Diagnostic(name, 1, 1, "", message)]
    return load_text(text, name)


def plain(value: Any) -> Any:
    """The data as plain dicts, lists and scalars (no ruamel types), for JSON and templates."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
