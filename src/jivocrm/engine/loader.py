"""YAML loading with positions, and refusal of what a configuration file has no business holding.

ruamel.yaml's round-trip loader keeps the line and column of every key and item. Aliases, anchors,
merge keys and explicit tags are rejected: an alias bomb ("billion laughs") loads in microseconds
because aliases share one object, but every later walk (jsonschema, templates) expands it, so it
must be refused before anything walks it. Loading itself is bounded by a size cap, and nesting by a
depth cap. Plain documents are parsed by libyaml when PyYAML has it (loader_libyaml.py: the same
data, ~10× faster), everything else by ruamel.yaml.
"""

from __future__ import annotations

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

from jivocrm.core.diagnostics import Diagnostic, json_path
from jivocrm.engine import loader_libyaml

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
TAGS_REFUSED = "explicit YAML tags are not allowed; write plain values"


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
            yield (f"more than {MAX_NODES} values; split the file", where)
            return
        if len(where) > MAX_DEPTH:
            yield (f"nested deeper than {MAX_DEPTH} levels", where)
            return
        anchor = _anchor(node)
        if anchor is not None:
            if id(node) not in reported:
                reported.add(id(node))
                yield (
                    f"YAML anchors and aliases (&{anchor}, *{anchor}) are not allowed; "
                    "repeat the value instead",
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
                yield ("YAML merge keys (<<) are not allowed; repeat the keys instead", where)
                continue
            children: list[tuple[Any, tuple[str | int, ...]]] = []
            for key, item in node.items():
                if not isinstance(key, str):
                    yield (f"keys must be text, not {type(key).__name__} ({key!r})", where)
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
        return None, [
            Diagnostic(file, 1, 1, "", f"file is larger than {MAX_FILE_BYTES // 1024} KiB")
        ]
    try:
        data, unchecked, tagged = _parse(text)
    except loader_libyaml.TooBig as exc:
        return None, [Diagnostic(file, exc.line, exc.column, "", str(exc))]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if "duplicate key" in str(problem) or type(exc).__name__ == "DuplicateKeyError":
            problem = "duplicate key; each key may appear once in a mapping"
        return None, [Diagnostic(file, line, col, "", f"YAML: {problem}")]
    except RecursionError:
        return None, [Diagnostic(file, 1, 1, "", f"nested deeper than {MAX_DEPTH} levels")]
    except YAMLError as exc:
        return None, [Diagnostic(file, 1, 1, "", f"YAML: {exc}")]
    problems = list(_walk(data)) if unchecked else []
    diags = [
        Diagnostic(file, *position(data, where), json_path(where), message)
        for message, where in problems
    ]
    if tagged is not None and not any(message == TAGS_REFUSED for message, _ in problems):
        # A tag whose value ruamel builds without a trace of it (!!float 1, !!timestamp):
        # reported where the tag stands.
        message = f"{TAGS_REFUSED} ({_short_tag(tagged.tag)})"
        diags.append(Diagnostic(file, tagged.line, tagged.column, "", message))
    if diags:
        return None, diags
    return Document(file, data), []


def load_file(path: Path, file: str | None = None) -> tuple[Document | None, list[Diagnostic]]:
    name = file or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [
                Diagnostic(name, 1, 1, "", f"file is larger than {MAX_FILE_BYTES // 1024} KiB")
            ]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic(name, 0, 0, "", f"cannot read: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [
            Diagnostic(name, 1, 1, "", f"not UTF-8 text (byte {exc.start}); save it as UTF-8")
        ]
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
