"""Template checks: Jinja2 syntax at its position in the file, and what templates read.

``event.<path>`` must be a field of the trigger's event (the catalogue); ``steps.<id>`` must be a
step earlier in the bundle, and ``steps.<id>.<output>`` an output its type has. Bundles repeat the
same templates many times, so each distinct template is parsed once (``_analysis``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from jivocrm.core.diagnostics import Diagnostic, Problem, json_path
from jivocrm.core.i18n import N_, Text
from jivocrm.engine.catalogue import MAPPING_METHODS, fields, known, normalize_path, read_risk
from jivocrm.engine.loader import Document
from jivocrm.engine.schema_errors import did_you_mean
from jivocrm.engine.template_reads import reads
from jivocrm.engine.templates import is_template, references, syntax_error, unsafe
from jivocrm.steps import STEPS

# Keys of a step that are names, not templates.
NOT_TEMPLATES = frozenset({"id", "type", "connection", "on_error", "description"})
# Words a `when:` may hold literally (a switch), as the runner's truthiness reads them.
WHEN_WORDS = frozenset({"", "true", "false", "yes", "no", "0", "1", "none", "null"})


@dataclass
class Scope:
    """What templates at one place may read."""

    event: str | None
    earlier: Mapping[str, str | None] = field(default_factory=dict)  # step id → type
    later: Mapping[str, int] = field(default_factory=dict)  # step id → index
    current: str | None = None
    lane: bool = False
    # Event paths known to be present where the template runs (the step's `when`, the filter).
    guards: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=8192)
def _analysis(
    source: str,
) -> tuple[tuple[int, str] | None, str | None, tuple[tuple[str | int, ...], ...]]:
    """(syntax error, the first thing the sandbox would refuse, the references) of a template."""
    problem = syntax_error(source)
    if problem is not None:
        return problem, None, ()
    refused = unsafe(source)
    return None, refused[0] if refused else None, tuple(tuple(c) for c in references(source))


@functools.cache
def _catalogue(event: str) -> tuple[frozenset[str], frozenset[str]]:
    """(every path, the paths that have sub-fields) of one event."""
    every = fields(event)
    parents = {p.rsplit(".", 1)[0] for p in every if "." in p}
    parents |= {p[:-2] for p in every if p.endswith("[]")}
    return every, frozenset(parents)


@functools.lru_cache(maxsize=16384)
def _known(event: str, path: str) -> bool:
    # Cached: the catalogue rebuilds an event's field set on every call, and a project asks
    # about the same few paths thousands of times.
    return known(event, path) or known(event, path + "[]")


def event_field_problem(event: str, path: str) -> str | None:
    """Why ``path`` is not a field of ``event``, or None when it is one."""
    if not path or _known(event, path):
        return None
    every, parents = _catalogue(event)
    parts = normalize_path(path).split(".")
    for cut in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:cut])
        if _known(event, prefix):
            # Past a plain value (`visitor.name.upper()`) or a mapping method it is Python, not a
            # field; past a block (`visitor.mail`) it is a typo.
            if prefix not in parents and prefix.removesuffix("[]") not in parents:
                return None
            if parts[cut] in MAPPING_METHODS:
                return None
            break
    shown = sorted(p.replace("[]", "[0]") for p in every)
    return Problem(
        "unknown-event-field",
        "event {event} has no field '{path}'{hint}",
        event=event,
        path=path,
        hint=did_you_mean(path.replace("[]", "[0]"), shown),
    )


# Jinja2's words for the usual template mistakes, as templates a reader's language can say again;
# anything else is shown as Jinja2 says it.
JINJA_PROBLEMS = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"unexpected '(?P<token>.+)'", N_("unexpected '{token}'")),
        (r"unexpected char '(?P<char>.+)' at (?P<at>\d+)", N_("unexpected char '{char}' at {at}")),
        (
            r"Unexpected end of template\. Jinja was looking for the following tags: "
            r"(?P<tags>.+)\. The innermost block that needs to be closed is '(?P<block>.+)'\.",
            N_(
                "Unexpected end of template. Jinja was looking for the following tags: {tags}. "
                "The innermost block that needs to be closed is '{block}'."
            ),
        ),
        (
            r"unexpected end of template, expected '(?P<expected>.+)'\.",
            N_("unexpected end of template, expected '{expected}'."),
        ),
        (
            r"expected token '(?P<expected>.+)', got '(?P<got>.+)'",
            N_("expected token '{expected}', got '{got}'"),
        ),
        (r"Encountered unknown tag '(?P<tag>[^']+)'\.", N_("Encountered unknown tag '{tag}'.")),
        (r"tag name expected", N_("tag name expected")),
    )
)


def jinja_problem(problem: str) -> str:
    """``problem`` (Jinja2's text) as a :class:`Text` where it is a usual one."""
    for pattern, template in JINJA_PROBLEMS:
        found = pattern.fullmatch(problem.strip())
        if found is not None:
            values = {k: _alternatives(v) for k, v in found.groupdict().items()}
            return Text(template, **values)
    return problem


def _alternatives(words: str) -> str:
    """``'elif' or 'else' or 'endif'`` with the reader's word for "or"."""
    parts = words.split(" or ")
    said = parts[0]
    for part in parts[1:]:
        said = Text("{first} or {second}", first=said, second=part)
    return said


def _written(chain: tuple[str | int, ...]) -> str:
    out = ""
    for part in chain:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reference_problem(chain: tuple[str | int, ...], scope: Scope) -> str | None:
    root = chain[0]
    if root == "event" and scope.event is not None and len(chain) > 1:
        return event_field_problem(scope.event, _written(chain[1:]))
    if root != "steps" or len(chain) < 2 or not isinstance(chain[1], str):
        return None
    sid = chain[1]
    if scope.lane:
        return Problem(
            "lane-reads-step", "the lane is computed before any step runs: it cannot read steps"
        )
    if sid == scope.current:
        return Problem("step-own-output", "step '{id}' cannot read its own outputs", id=sid)
    if sid in scope.later:
        return Problem(
            "step-not-earlier",
            "step '{id}' runs later (steps[{index}]); a step reads only the "
            "outputs of steps before it: move it up",
            id=sid,
            index=scope.later[sid],
        )
    if sid not in scope.earlier:
        hint = did_you_mean(sid, scope.earlier)
        return Problem(
            "step-not-earlier", "no step '{id}' before this one{hint}", id=sid, hint=hint
        )
    kind = scope.earlier[sid]
    if kind is None or len(chain) < 3 or not isinstance(chain[2], str):
        return None
    outputs = STEPS[kind].outputs
    if chain[2] in outputs:
        return None
    hint = did_you_mean(chain[2], outputs)
    return Problem(
        "unknown-step-output",
        "step '{id}' ({kind}) has no output '{output}'{hint}; it has {outputs}",
        id=sid,
        kind=kind,
        output=chain[2],
        hint=hint,
        outputs=", ".join(outputs),
    )


def check_step(
    doc: Document, index: int, step: Mapping[str, Any], scope: Scope, root: Path
) -> Iterator[Diagnostic]:
    when = step.get("when")
    guarded = scope
    if is_template(when):
        # What the step's `when` tests is there whenever the step runs.
        tested = event_paths(r.chain for r in reads(str(when)))
        guarded = dataclasses.replace(scope, guards=scope.guards | tested)
    for key, value in step.items():
        if key in NOT_TEMPLATES:
            continue
        where = ("steps", index, key)
        if key != "when":
            yield from check_strings(doc, where, value, guarded, root)
            continue
        if isinstance(value, str) and not is_template(value):
            if value.strip().lower() not in WHEN_WORDS:
                line, col = doc.position(where)
                yield Diagnostic(
                    doc.file,
                    line,
                    col,
                    json_path(where),
                    Problem(
                        "when-not-template",
                        "`when` is a template: write {{{{ {value} }}}}",
                        value=value.strip(),
                    ),
                )
            continue
        yield from check_strings(doc, where, value, scope, root)


def check_strings(
    doc: Document, where: tuple[str | int, ...], value: Any, scope: Scope, root: Path
) -> Iterator[Diagnostic]:
    """Every template among ``value``'s strings (inside mappings and lists too)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from check_strings(doc, (*where, key), item, scope, root)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from check_strings(doc, (*where, i), item, scope, root)
    elif is_template(value):
        syntax, refused, chains = _analysis(str(value))
        if syntax is not None:
            line, col = _template_position(doc, where, value, syntax[0], root)
            message = Problem(
                "template-syntax", "template syntax: {problem}", problem=jinja_problem(syntax[1])
            )
            yield Diagnostic(doc.file, line, col, json_path(where), message)
            return
        if refused is not None:
            # One message per template: the first refusal says enough to fix it.
            line, col = doc.position(where)
            yield Diagnostic(
                doc.file, line, col, json_path(where), refused, code="template-refused"
            )
            return
        seen: set[str] = set()
        for chain in chains:
            problem = _reference_problem(chain, scope)
            if problem is not None and problem not in seen:
                seen.add(problem)
                line, col = doc.position(where)
                yield Diagnostic(doc.file, line, col, json_path(where), problem)
        if seen or scope.event is None:
            return
        for problem in _risky_reads(str(value), scope):
            if problem not in seen:
                seen.add(problem)
                line, col = doc.position(where)
                yield Diagnostic(
                    doc.file, line, col, json_path(where), problem, code="missing-at-run-time"
                )


def event_paths(chains: Iterable[tuple[str | int, ...]]) -> frozenset[str]:
    """The normalized event paths of ``event.…`` chains (guards for what they test)."""
    return frozenset(
        normalize_path(_written(c[1:])) for c in chains if c and c[0] == "event" and len(c) > 1
    )


def _guarded(missing: str, guards: Iterable[str]) -> bool:
    return any(g == missing or g.startswith((missing + ".", missing + "[]")) for g in guards)


def _risky_reads(source: str, scope: Scope) -> Iterator[str]:
    """Reads of what may be missing at run time that nothing in the bundle protects."""
    assert scope.event is not None
    for read in reads(source):
        if read.defaulted or read.chain[:1] != ("event",) or len(read.chain) < 2:
            continue
        written = _written(read.chain[1:])
        risk = read_risk(scope.event, written)
        if risk is None or _guarded(risk.missing, scope.guards | event_paths(read.tested)):
            continue
        when = "" if scope.lane else f', or run the step under `when: "{risk.when}"`'
        yield (
            f"'{written}' can be missing at run time: {risk.missing} {risk.why}; write "
            f"{risk.fix(written + ('()' if read.called else ''))}{when}"
        )


def _template_position(
    doc: Document, where: tuple[str | int, ...], value: Any, inner: int, root: Path
) -> tuple[int, int]:
    """The file position of line ``inner`` (1-based) of the template at ``where``."""
    line, col = doc.position(where)
    if isinstance(value, (LiteralScalarString, FoldedScalarString)):
        # A block scalar's text starts on the line after its `|` or `>` indicator.
        target = line + inner
        return target, _indent(root / doc.file, target)
    if inner == 1:
        return line, col
    return line + inner - 1, 1


def _indent(path: Path, line: int) -> int:
    lines = _lines(path)
    if 0 < line <= len(lines):
        text = lines[line - 1]
        return len(text) - len(text.lstrip(" ")) + 1
    return 1


def _lines(path: Path) -> tuple[str, ...]:
    # Read only for a syntax error inside a block scalar; never cached, as reload re-validates.
    try:
        return tuple(path.read_text("utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


__all__ = ["Scope", "check_step", "check_strings", "event_field_problem", "event_paths"]
