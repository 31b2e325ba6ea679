"""Bundle filters: an OR of AND-groups of conditions, evaluated with an explanation.

Every evaluation says which condition decided and with what actual value
(``visitor.email is empty``, ``visitor.phone = '+7916…' does not start with '8'``), because
"nothing appears in the CRM" is the question users bring, and the journal must answer it.

Comparisons are tolerant of Jivo's type drift: ``equals 58213`` holds for ``"58213"`` too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jivocrm.core.i18n import N_, Joined, Text
from jivocrm.engine.model import Condition

MISSING = object()
MAX_SHOWN = 60


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


def lookup(data: Any, path: str) -> Any:
    """The value at ``visitor.email`` / ``agents[0].email`` / ``agents.0.email``, or MISSING."""
    current = data
    for part in re.split(r"\.|\[", path.replace("]", "")):
        if part == "":
            continue
        if isinstance(current, Mapping):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, Sequence) and not isinstance(current, str) and part.isdigit():
            index = int(part)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def shown(value: Any) -> str:
    """A value as the explanation quotes it, shortened."""
    if value is MISSING:
        return Text("missing")
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _empty(value: Any) -> bool:
    if value is MISSING or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def _same(a: Any, b: Any) -> bool:
    if a is MISSING:
        return False
    if a == b:
        return True
    # Jivo sends ids as int or text depending on the payload; compare them as text.
    return a is not None and b is not None and str(a) == str(b)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # an int too large for a float included
        return None


def _contains(actual: Any, value: Any) -> bool:
    if isinstance(actual, (list, tuple)):
        return any(_same(item, value) for item in actual)
    if isinstance(actual, str):
        return str(value) in actual
    return False


def _compare(op: str) -> Callable[[Any, Any], bool]:
    def check(actual: Any, value: Any) -> bool:
        a, b = _number(actual), _number(value)
        if a is None or b is None:
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]

    return check


def _matches(actual: Any, pattern: Any) -> bool:
    if actual is MISSING or actual is None:
        return False
    try:
        return re.search(str(pattern), str(actual)) is not None
    except re.error:
        return False


# op → (test, text when it holds, text when it does not); {v} is the expected value.
TESTS: dict[str, tuple[Callable[[Any, Any], bool], str, str]] = {
    "equals": (_same, N_("equals {v}"), N_("does not equal {v}")),
    "not_equals": (lambda a, v: not _same(a, v), N_("does not equal {v}"), N_("equals {v}")),
    "empty": (lambda a, v: _empty(a), N_("is empty"), N_("is not empty")),
    "not_empty": (lambda a, v: not _empty(a), N_("is not empty"), N_("is empty")),
    "exists": (lambda a, v: a is not MISSING and a is not None, N_("exists"), N_("does not exist")),
    "in": (lambda a, v: any(_same(a, x) for x in v or []), N_("is in {v}"), N_("is not in {v}")),
    "not_in": (
        lambda a, v: not any(_same(a, x) for x in v or []),
        N_("is not in {v}"),
        N_("is in {v}"),
    ),
    "contains": (_contains, N_("contains {v}"), N_("does not contain {v}")),
    "not_contains": (
        lambda a, v: not _contains(a, v),
        N_("does not contain {v}"),
        N_("contains {v}"),
    ),
    "starts_with": (
        lambda a, v: isinstance(a, str) and a.startswith(str(v)),
        N_("starts with {v}"),
        N_("does not start with {v}"),
    ),
    "ends_with": (
        lambda a, v: isinstance(a, str) and a.endswith(str(v)),
        N_("ends with {v}"),
        N_("does not end with {v}"),
    ),
    "matches": (_matches, N_("matches {v}"), N_("does not match {v}")),
    "gt": (_compare("gt"), N_("is greater than {v}"), N_("is not greater than {v}")),
    "gte": (_compare("gte"), N_("is at least {v}"), N_("is less than {v}")),
    "lt": (_compare("lt"), N_("is less than {v}"), N_("is not less than {v}")),
    "lte": (_compare("lte"), N_("is at most {v}"), N_("is greater than {v}")),
}


def evaluate(condition: Condition, event: Mapping[str, Any]) -> Verdict:
    """One condition against the event, with the sentence that explains the outcome."""
    actual = lookup(event, condition.field)
    test, yes, no = TESTS[condition.op]
    ok = bool(test(actual, condition.value))
    expected = shown(condition.value)
    if actual is MISSING or _empty(actual):
        subject: str = (
            condition.field
            if actual is not MISSING
            else Text("{field} (missing)", field=condition.field)
        )
    else:
        subject = Text("{field} = {actual}", field=condition.field, actual=shown(actual))
    said = Text(yes if ok else no, v=expected)
    return Verdict(ok, Text("{subject} {condition}", subject=subject, condition=said))


def evaluate_filter(groups: Sequence[Sequence[Condition]], event: Mapping[str, Any]) -> Verdict:
    """OR of AND-groups. The reason names the deciding condition(s)."""
    if not groups:
        return Verdict(True, Text("no filter"))
    failures: list[str] = []
    for number, group in enumerate(groups, start=1):
        held: list[str] = []
        failed: Verdict | None = None
        for condition in group:
            verdict = evaluate(condition, event)
            if not verdict.ok:
                failed = verdict
                break
            held.append(verdict.reason)
        if failed is None:
            conditions = _and(held)
            if len(groups) > 1:
                return Verdict(
                    True,
                    Text(
                        "filter group {number}: {conditions}", number=number, conditions=conditions
                    ),
                )
            return Verdict(True, Text("filter: {conditions}", conditions=conditions))
        failures.append(
            failed.reason
            if len(groups) == 1
            else Text("group {number}: {reason}", number=number, reason=failed.reason)
        )
    return Verdict(False, Joined("; ", failures))


def _and(parts: list[str]) -> str:
    said = parts[0] if parts else ""
    for part in parts[1:]:
        said = Text("{some} and {last}", some=said, last=part)
    return said


__all__ = ["MISSING", "TESTS", "Verdict", "evaluate", "evaluate_filter", "lookup", "shown"]
