"""jsonschema errors → short diagnostics at the right line and column, with did-you-mean."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from jivocrm.core.diagnostics import Diagnostic, Problem, json_path
from jivocrm.core.i18n import N_, Text
from jivocrm.engine.loader import Document


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return Text(" (did you mean '{choice}'?)", choice=close[0]) if close else ""


_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A compiled validator per schema object (schemas are built once, cached by their makers)."""
    hit = _VALIDATORS.get(id(schema))
    if hit is None or hit[0] is not schema:
        hit = (schema, Draft202012Validator(schema))
        _VALIDATORS[id(schema)] = hit
    return hit[1]


def _message(error: ValidationError) -> tuple[tuple[str | int, ...], str, bool]:
    path = tuple(error.absolute_path)
    kind = error.validator
    schema: Any = error.schema if isinstance(error.schema, dict) else {}
    expected: Any = error.validator_value
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extras = (
            sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        )
        if extras:
            key = extras[0]
            hint = did_you_mean(key, allowed)
            message = Problem("unknown-key", "unknown key '{key}'{hint}", key=key, hint=hint)
            return (*path, key), message, True
    if kind == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        return path, Problem("missing-key", "missing required key '{key}'", key=missing), False
    if kind == "enum":
        choices = [str(c) for c in expected]
        value = error.instance
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
        # A step is validated on its own too (memoized), where its type's path is just "type".
        is_step = "steps" in path or len(path) == 1
        code = "unknown-step-type" if path[-1:] == ("type",) and is_step else "unknown-value"
        if hint and code == "unknown-step-type":
            message = Problem(code, "unknown step type '{value}'{hint}", value=value, hint=hint)
            return path, message, False
        if hint:
            message = Problem(code, "unknown value '{value}'{hint}", value=value, hint=hint)
            return path, message, False
        shown = ", ".join(choices[:12]) + (", …" if len(choices) > 12 else "")
        message = Problem(
            code, "{value} is not one of: {choices}", value=repr(value), choices=shown
        )
        return path, message, False
    if kind == "const":
        message = Problem(
            "wrong-value",
            "must be {expected}, not {actual}",
            expected=repr(error.validator_value),
            actual=repr(error.instance),
        )
        return path, message, False
    if kind == "type":
        names = expected if isinstance(expected, list) else [str(expected)]
        message = Problem(
            "wrong-type",
            "must be {expected}, not {actual}",
            expected=_article(names),
            actual=_typename(error.instance),
        )
        return path, message, False
    if kind in ("oneOf", "anyOf"):
        description = schema.get("description")
        if description:
            message = Problem(
                "invalid-value",
                "{actual} is not a valid value here ({description})",
                actual=_typename(error.instance),
                description=description,
            )
        else:
            message = Problem(
                "invalid-value",
                "{actual} is not a valid value here (see `jivocrm schema`)",
                actual=_typename(error.instance),
            )
        return path, message, False
    if kind == "pattern":
        message = Problem(
            "wrong-form",
            "{value} does not have the expected form ({pattern})",
            value=repr(error.instance),
            pattern=error.validator_value,
        )
        return path, message, False
    if kind == "minItems":
        return path, Problem("empty-list", "must not be empty"), False
    return path, Problem("schema", "{problem}", problem=error.message), False


# JSON Schema's type names as messages say them: the first with its article ("must be a
# mapping or null"), the others without.
WITH_ARTICLE = {
    "string": N_("a string"),
    "integer": N_("an integer"),
    "number": N_("a number"),
    "boolean": N_("a boolean"),
    "object": N_("a mapping"),
    "array": N_("a list"),
    "null": N_("null"),
}
BARE = {
    "string": N_("string"),
    "integer": N_("integer"),
    "number": N_("number"),
    "boolean": N_("boolean"),
    "object": N_("mapping"),
    "array": N_("list"),
    "null": N_("null"),
}


def _article(names: list[str]) -> str:
    said: str = Text(WITH_ARTICLE.get(names[0], names[0]))
    for name in names[1:]:
        said = Text("{first} or {second}", first=said, second=Text(BARE.get(name, name)))
    return said


def _typename(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return Text("a mapping")
    if isinstance(value, list):
        return Text("a list")
    if isinstance(value, (int, float)):
        return Text("the number {value}", value=value)
    if len(str(value)) < 40:
        return Text("text {value}", value=repr(value))
    return Text("text")


Found = tuple[tuple[str | int, ...], str, bool]  # (path in the instance, message, at the key)
_MEMO: dict[tuple[int, str], list[Found]] = {}
MEMO_SIZE = 4096


def problems(schema: dict[str, Any], instance: Any) -> list[Found]:
    errors = sorted(
        validator(schema).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))
    )
    return [_message(error) for error in errors]


def _no_json(value: Any) -> Any:
    raise TypeError  # a date or another non-JSON value: validate it, do not memoize


def memoized_problems(schema: dict[str, Any], instance: Any) -> list[Found]:
    """``problems``, remembered by the instance's JSON text: projects repeat the same steps
    (the same contact step in every bundle), and validating one costs ~100 µs."""
    try:
        text = json.dumps(instance, sort_keys=True, default=_no_json)
    except (TypeError, ValueError):
        return problems(schema, instance)
    key = (id(validator(schema)), text)
    found = _MEMO.get(key)
    if found is None:
        if len(_MEMO) >= MEMO_SIZE:
            _MEMO.clear()
        found = _MEMO[key] = problems(schema, instance)
    return found


def check(
    document: Document,
    schema: dict[str, Any],
    instance: Any = None,
    prefix: tuple[str | int, ...] = (),
    memoize: bool = False,
) -> Iterator[Diagnostic]:
    """Diagnostics of ``instance`` (default: the whole document) against ``schema``."""
    target = document.data if instance is None else instance
    found = memoized_problems(schema, target) if memoize else problems(schema, target)
    seen: set[tuple[str, str]] = set()
    for path, message, at_key in found:
        full = (*prefix, *path)
        key = (json_path(full), message)
        if key in seen:
            continue
        seen.add(key)
        line, col = document.position(full, at_key)
        yield Diagnostic(document.file, line, col, json_path(full), message)
