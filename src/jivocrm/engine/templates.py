"""Templates: Jinja2 in an immutable sandbox with strict undefined and resource caps.

* A value without ``{{``/``{%`` is a literal. A value that is exactly one ``{{ … }}`` keeps the
  type of what it evaluates to (a number stays a number, a dict a dict); anything else renders
  to text.
* Event data is data: values from a chat are passed as context, never compiled, so a visitor who
  types ``{{ 7*7 }}`` gets those characters written to the CRM.
* The sandbox blocks attribute escapes but not resource abuse: every render runs within the
  budget of ``engine.template_budget`` (operations, CPU time, the size of every string and list
  it builds), and a render that would exceed it fails its step with a ``TemplateError``.
* ``render_async`` / ``render_tree_async`` keep the event loop free: a render that takes longer
  than a few milliseconds goes on in a worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import (
    StrictUndefined,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
    pass_context,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from jivocrm.core.errors import TemplateError
from jivocrm.core.i18n import Text
from jivocrm.core.phones import normalize_email, normalize_phone
from jivocrm.engine import template_budget as spend
from jivocrm.engine import transcript
from jivocrm.engine.transcript import AGENT_LABEL, VISITOR_LABEL

MAX_OUTPUT = spend.MAX_TEXT
MAX_SEQUENCE = spend.MAX_ITEMS
MAX_EXPONENT = 64
WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\s*$", re.DOTALL)
ROOTS = ("event", "steps", "bundle", "run", "now")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = spend.BudgetCodeGenerator
    concat = staticmethod(spend.join_text)  # captured blocks and macro bodies

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        spend.check_binop(operator, left, right)
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"'**' with an exponent above {MAX_EXPONENT} is not allowed")
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() * right > 4096
            ):
                raise SecurityError("'**' would build a number of more than 4096 bits")
        return spend.check_result(
            super().call_binop(context, operator, left, right), f"'{operator}'"
        )

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        args = spend.join_argument(__obj, args)
        spend.check_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return spend.check_result(result, "a call's result")

    def getattr(self, obj: Any, attribute: str) -> Any:
        spend.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        spend.tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            spend.check_format_spec(text)
            spend.check_text(len(text) + spend.weight([args, kwargs]), "format()")
            return str(wrapped(*args, **kwargs))

        return checked


def _phone(value: Any, region: str = "RU") -> str | None:
    return normalize_phone(None if value is None else str(value), region)


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


# The context key the runner puts the project's timezone under (not a name templates may use).
TIMEZONE_KEY = "_timezone"


def _zone(context: Any) -> dt.tzinfo:
    name = context.get(TIMEZONE_KEY) if context is not None else None
    return transcript.zone(name if isinstance(name, str) else None)


@pass_context
def _date(context: Any, value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Unix seconds, ISO text or a datetime → text on the project's clock (its ``timezone``)."""
    if value is None or value == "":
        return ""
    return transcript.moment(value, _zone(context)).strftime(fmt)


@pass_context
def _transcript(
    context: Any, messages: Any, visitor: str = VISITOR_LABEL, agent: str = AGENT_LABEL
) -> str:
    """A chat's messages (event.chat.messages) as readable lines, agents by name."""
    event = context.get("event") if context is not None else None
    agents = event.get("agents") if isinstance(event, Mapping) else None
    if not agents and isinstance(event, Mapping) and isinstance(event.get("agent"), Mapping):
        agents = [event["agent"]]
    return transcript.render(messages, agents or (), _zone(context), visitor, agent)


class ChainedUndefined(StrictUndefined):
    """Strict, but a missing value's attributes and items are missing too: the error comes when
    the value is used, so ``{{ event.agents[0].email | default('') }}`` works on no agents."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


@functools.cache
def environment() -> Sandbox:
    env = Sandbox(
        undefined=ChainedUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=spend.finalize,
    )
    env.filters.update(
        phone=_phone,
        digits=_digits,
        email=lambda v: normalize_email(None if v is None else str(v)),
        date=_date,
        transcript=_transcript,
    )
    env.filters = {name: spend.guard_filter(name, f) for name, f in env.filters.items()}
    env.filters[spend.LOOP] = spend.counted
    env.filters[spend.CONCAT] = spend.concat
    # Only what a bundle may name (validate refuses the rest): lipsum, cycler, joiner and
    # namespace are gone, range is the sandbox's bounded one.
    env.globals = {"range": safe_range, "dict": dict}
    return env


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    match = WHOLE_EXPRESSION.match(source)
    env = environment()
    if match:
        return ("expr", env.compile_expression(match.group("expr"), undefined_to_none=False))
    return ("text", env.from_string(source))


def _explain(exc: Exception) -> str:
    text = str(exc)
    found = re.search(r"has no attribute '([^']+)'", text) or re.search(
        r"'([^']+)' is undefined", text
    )
    if found:
        return (
            f"field '{found.group(1)}' is missing; give a default, e.g. {{{{ … | default('') }}}}"
        )
    item = re.search(r"has no element (\S+)", text)
    if item:
        return (
            f"item {item.group(1)} is missing (the list is shorter); give a default, e.g. "
            "{{ … | default('') }}"
        )
    return text


def _undefined_inside(value: Any) -> Undefined | None:
    """An undefined value inside a list or dict a template built (``map(attribute=…)`` of a
    missing field): the journal could not store it, so it is the template's error."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Undefined):
            return item
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return None


def _evaluate(kind: str, compiled: Any, context: Mapping[str, Any]) -> Any:
    if kind == "expr":
        value = compiled(**context)
        missing = _undefined_inside(value)
        if missing is not None:
            str(missing)  # raises UndefinedError naming the field
        spend.check_method_value(value)
        spend.check_text(spend.weight(value), "the value")
        return value
    pieces: list[str] = []
    size = 0
    for piece in compiled.generate(**context):
        size += len(piece)
        spend.check_text(size, "the output")
        pieces.append(piece)
    return "".join(pieces)


def render(source: Any, context: Mapping[str, Any], *, inline: bool = False) -> Any:
    """Render one value: literals as they are, one ``{{ … }}`` with its type, else text.

    ``inline``: the caller is the event loop; past ``INLINE_SECONDS`` of CPU this raises
    ``MoveToThread`` (``render_async`` handles it)."""
    if not is_template(source):
        return source
    try:
        with spend.budget(inline=inline):
            kind, compiled = _compiled(source)
            value = _evaluate(kind, compiled, context)
    except spend.MoveToThread:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax: {exc.message}") from None
    except UndefinedError as exc:
        raise TemplateError(_explain(exc)) from None
    except spend.OverBudget as exc:
        raise TemplateError(f"template stopped, over its budget: {exc}") from None
    except SecurityError as exc:
        raise TemplateError(f"not allowed in a template: {exc}") from None
    except RecursionError:
        raise TemplateError("template failed: calls nested too deeply") from None
    except (TypeError, ValueError, ArithmeticError, OverflowError, LookupError) as exc:
        raise TemplateError(f"template failed: {type(exc).__name__}: {exc}") from None
    if _size(value) > MAX_OUTPUT:
        raise TemplateError(f"template output is longer than {MAX_OUTPUT} characters")
    return value


def render_tree(value: Any, context: Mapping[str, Any], *, inline: bool = False) -> Any:
    """Render every string inside dicts and lists, within one budget."""
    with spend.budget(inline=inline):
        return _tree(value, context, inline)


def _tree(value: Any, context: Mapping[str, Any], inline: bool) -> Any:
    if isinstance(value, dict):
        return {k: _tree(v, context, inline) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v, context, inline) for v in value]
    return render(value, context, inline=inline)


async def render_async(source: Any, context: Mapping[str, Any]) -> Any:
    """``render`` without holding the event loop: a slow render finishes in a thread."""
    try:
        return render(source, context, inline=True)
    except spend.MoveToThread:
        return await asyncio.to_thread(render, source, context)


async def render_tree_async(value: Any, context: Mapping[str, Any]) -> Any:
    try:
        return render_tree(value, context, inline=True)
    except spend.MoveToThread:
        return await asyncio.to_thread(render_tree, value, context)


# ---- static analysis, for validate ---------------------------------------------------------------


def syntax_error(source: str) -> tuple[int, str] | None:
    """(line inside the template, message) when ``source`` does not parse, else None."""
    try:
        environment().parse(source)
    except TemplateSyntaxError as exc:
        return (exc.lineno or 1, exc.message or "invalid template")
    return None


def _chain(node: nodes.Node) -> list[str | int] | None:
    parts: list[str | int] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return list(reversed(parts))
        else:
            return None


def references(source: str) -> Iterator[list[str | int]]:
    """Every maximal ``event.a.b[0].c`` / ``steps.x.y`` chain in ``source``."""
    tree = environment().parse(source)
    inner: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if id(node) in inner:
            continue
        chain = _chain(node)
        if chain is None:
            continue
        child = node
        while isinstance(child, (nodes.Getattr, nodes.Getitem)):
            child = child.node
            inner.add(id(child))
        yield chain


# Jinja's globals that have no business in a bundle (and have been escape routes).
ALLOWED_NAMES = frozenset({*ROOTS, "range", "dict", "loop", "true", "false", "none"})
FORMAT_METHODS = frozenset({"format", "format_map"})


def _const_number(node: nodes.Node) -> float | None:
    """The value of a constant numeric expression, when it is one (bounded work)."""
    if isinstance(node, nodes.Const) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, nodes.Pow):
        base, exp = _const_number(node.left), _const_number(node.right)
        if base is None or exp is None:
            return None
        if exp > MAX_EXPONENT:
            return float("inf")
        try:
            return float(base**exp)
        except OverflowError:
            return float("inf")
    return None


def unsafe(source: str) -> list[str]:
    """What ``validate`` refuses in a template before any run renders it: private attributes,
    Jinja globals other than the bundle's names, string formatting, and constant expressions
    that the sandbox would refuse at run time (huge repeats, exponents, ranges)."""
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError:
        return []  # reported as a syntax error
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    problems: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Filter)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            problems.append(Text("attribute '{name}' is not allowed in a template", name=node.attr))
        elif isinstance(node, nodes.Getattr) and node.attr in FORMAT_METHODS:
            problems.append(
                Text("'.{name}()' is not allowed in a template; join text with ~", name=node.attr)
            )
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and str(node.arg.value).startswith("_")
        ):
            problems.append(Text("item '{name}' is not allowed in a template", name=node.arg.value))
        elif (
            isinstance(node, nodes.Name)
            and node.ctx == "load"
            and node.name not in ALLOWED_NAMES | assigned
        ):
            problems.append(
                Text(
                    "unknown name '{name}' in a template (names: event, steps, bundle, run, now)",
                    name=node.name,
                )
            )
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            problems.append(Text("the attr filter is not allowed in a template; write a.b"))
    for node in tree.find_all((nodes.Mul, nodes.Pow, nodes.Call)):
        if isinstance(node, nodes.Pow) and _const_number(node) == float("inf"):
            problems.append(
                Text("'**' with an exponent above {limit} is not allowed", limit=MAX_EXPONENT)
            )
        elif isinstance(node, nodes.Mul):
            count = _const_number(node.right) or _const_number(node.left)
            if count is not None and count > MAX_SEQUENCE:
                problems.append(Text("'*' would build more than {limit} items", limit=MAX_SEQUENCE))
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Name)
            and node.node.name == "range"
            and any((_const_number(a) or 0) > MAX_SEQUENCE for a in node.args)
        ):
            problems.append(Text("range() above {limit} is not allowed", limit=MAX_SEQUENCE))
    problems += spend.static_problems(tree)
    return list(dict.fromkeys(problems))
