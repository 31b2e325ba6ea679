"""Round-trip documents built from libyaml's events: ruamel.yaml's result, ~10× faster.

ruamel.yaml's round-trip scanner is pure Python and spends ~8 ms on a typical bundle, so a project
of 1,000 bundles took 10 s to load. libyaml (the C parser inside PyYAML) produces the event
stream in a fraction of that, and ``load`` builds from it what ``YAML(typ="rt")`` builds —
CommentedMap and CommentedSeq with the line and column of every key and item, YAML 1.2 typing of
plain scalars, block scalars as LiteralScalarString — minus the comments, which validation never
reads.

It does so only for the plain documents configuration files are made of. Anything else (anchors,
aliases, tags, merge keys, duplicate keys, several documents, dates, floats, folded scalars, a
syntax error) raises ``Unusual``, and the caller parses the text with ruamel.yaml itself, so those
documents get ruamel's exact data, refusals and error messages. Without PyYAML's C extension,
``available()`` is False and everything goes to ruamel.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.compat import ordereddict
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import LiteralScalarString

from jivocrm.core.diagnostics import Problem


def _pyyaml() -> Any:
    try:
        module = importlib.import_module("yaml")
    except ImportError:
        return None
    return module if getattr(module, "__with_libyaml__", False) else None


_YAML: Any = _pyyaml()
# ruamel's YAML 1.2 implicit types (first character → (tag, pattern)), copied once: its own
# resolve() looks the version up through several failing attribute lookups on every call.
_IMPLICIT: dict[Any, list[tuple[str, Any]]] = {
    first: list(rules)
    for first, rules in VersionedResolver(version=(1, 2)).versioned_resolver.items()
}
# "0" is left out: ruamel makes it a ScalarInt, like every int written with a leading zero.
_DECIMAL = re.compile(r"-?[1-9][0-9]*")
_OTHER = object()
_set = ordereddict.__setitem__
_NO_KEY = object()


class Unusual(Exception):
    """The document holds something ``load`` leaves to ruamel.yaml."""


def too_deep(depth: int) -> Problem:
    return Problem("too-deep", "nested deeper than {depth} levels", depth=depth)


class TooBig(Exception):
    """Past the loader's size or depth cap: refused here, since ruamel.yaml (pure Python) would
    spend seconds reading the whole file before its own count could refuse it."""

    def __init__(self, message: Problem, line: int, column: int) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


class Tagged(Exception):
    """An explicit tag (``!!binary``, ``!!python/…``, ``!local``): refused wherever it is, since
    ruamel.yaml would construct bytes, sets or dates from some of them without a trace."""

    def __init__(self, tag: str, line: int, column: int) -> None:
        super().__init__(tag)
        self.tag, self.line, self.column = tag, line, column


def explicit_tag(events: list[Any]) -> Tagged | None:
    """The first explicitly tagged node of a parsed event stream (libyaml's or ruamel's)."""
    for event in events:
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            mark = event.start_mark
            return Tagged(str(tag), mark.line + 1, mark.column + 1)
    return None


def available() -> bool:
    return _YAML is not None


@functools.lru_cache(maxsize=4096)
def _plain(value: str) -> Any:
    """A plain scalar's value by YAML 1.2 as ruamel resolves it, for text, null, bool and
    decimal int; ``_OTHER`` for the rest, whose ruamel types (ScalarFloat, dates…) differ."""
    tag = "tag:yaml.org,2002:str"
    for candidate, pattern in _IMPLICIT.get(value[:1], []) + _IMPLICIT.get(None, []):
        if pattern.match(value):
            tag = candidate
            break
    if tag == "tag:yaml.org,2002:str":
        return value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return value.lower() == "true"
    if tag == "tag:yaml.org,2002:int" and _DECIMAL.fullmatch(value):
        return int(value)
    return _OTHER


def _scalar(event: Any) -> Any:
    style = event.style or None  # libyaml says '' for plain
    if style is None and event.implicit[0]:
        value = _plain(event.value)
        if value is _OTHER:
            raise Unusual
        return value
    if style in ("'", '"'):
        return event.value
    if style == "|":
        return LiteralScalarString(event.value)
    raise Unusual


class _Open:
    """A collection being filled: its line/column table, the pending key, the keys so far."""

    __slots__ = ("container", "is_map", "key", "key_mark", "keys", "lines")

    def __init__(self, container: Any, is_map: bool) -> None:
        self.container = container
        self.is_map = is_map
        self.lines: dict[Any, list[int]] = {}
        container.lc.data = self.lines  # ruamel's LineCol table, filled directly
        self.key: Any = _NO_KEY
        self.key_mark: Any = None
        self.keys: set[str] = set()

    def add(self, value: Any, mark: Any) -> None:
        if not self.is_map:
            self.lines[len(self.container)] = [mark.line, mark.column]
            self.container.append(value)
        elif self.key is _NO_KEY:
            if not isinstance(value, str) or value == "<<" or value in self.keys:
                raise Unusual  # non-text, merge and duplicate keys
            self.keys.add(value)
            self.key, self.key_mark = value, mark
        else:
            key, at = self.key, self.key_mark
            self.lines[key] = [at.line, at.column, mark.line, mark.column]
            # What CommentedMap.__setitem__ does for a new key, without its lookups.
            _set(self.container, key, value)
            self.container._ok.add(key)
            self.key = _NO_KEY


def _build(events: list[Any], max_depth: int, max_nodes: int) -> Any:
    # Every value is at least one event: more events than the cap means more values too.
    if len(events) > max_nodes:
        raise TooBig(
            Problem("too-many-values", "more than {count} values; split the file", count=max_nodes),
            1,
            1,
        )
    y = _YAML
    scalar, mapping, sequence = y.ScalarEvent, y.MappingStartEvent, y.SequenceStartEvent
    ends = (y.MappingEndEvent, y.SequenceEndEvent)
    stack: list[_Open] = []
    root: Any = None
    # The stream and document events are first and last; one document only, no directives.
    start = events[1] if len(events) > 2 else None
    if start is not None and (start.tags or start.version or len(events) < 4):
        raise Unusual
    if any(isinstance(e, y.DocumentStartEvent) for e in events[2:]):
        raise Unusual
    for index in range(2, len(events) - 2):
        event = events[index]
        cls = type(event)
        if cls in ends:
            stack.pop()
            continue
        if cls is y.AliasEvent or event.anchor is not None or event.tag not in (None, "!"):
            raise Unusual
        mark = event.start_mark
        if cls is scalar:
            value = _scalar(event)
            if event.value == "" and not event.style:
                # ruamel places an empty value of a block mapping where the next token starts;
                # so do we, so positions never depend on the parser (elsewhere ruamel's rule is
                # another: leave those to it).
                if not stack or not stack[-1].is_map or stack[-1].container.fa.flow_style():
                    raise Unusual
                mark = events[index + 1].start_mark
            if stack:
                stack[-1].add(value, mark)
            else:
                root = value
            continue
        is_map = cls is mapping
        if not is_map and cls is not sequence:
            raise Unusual
        value = CommentedMap() if is_map else CommentedSeq()
        value._yaml_set_line_col(mark.line, mark.column)
        if event.flow_style:
            value.fa.set_flow_style()
        else:
            value.fa.set_block_style()
        if stack:
            stack[-1].add(value, mark)
        else:
            root = value
        stack.append(_Open(value, is_map))
        if len(stack) > max_depth:
            raise TooBig(too_deep(max_depth), mark.line + 1, mark.column + 1)
    return root


def load(text: str, max_depth: int, max_nodes: int) -> Any:
    """The round-trip data of ``text``; ``Unusual`` when ruamel.yaml should read it instead.

    Data returned here holds no anchors, tags, merge keys or non-text keys, is at most
    ``max_depth`` deep and has at most ``max_nodes`` values: the loader need not walk it again.
    """
    try:
        events = list(_YAML.parse(text, Loader=_YAML.CSafeLoader))
    except _YAML.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if "maximum nesting depth" in str(getattr(exc, "problem", "")) and mark is not None:
            # libyaml's own nesting cap (far above ours): ruamel would recurse for seconds.
            raise TooBig(too_deep(max_depth), mark.line + 1, mark.column + 1) from None
        raise Unusual from None  # ruamel's message for the same error
    tagged = explicit_tag(events)
    if tagged is not None:
        raise tagged
    return _build(events, max_depth, max_nodes)


__all__ = ["Tagged", "TooBig", "Unusual", "available", "explicit_tag", "load"]
