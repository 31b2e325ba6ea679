"""What one template render may spend: operations, CPU time, and the size of what it builds.

Only bundle authors write templates, but one mistake (a loop in a loop, ``'x' | center(10**8)``)
must not take the daemon down. Jinja's sandbox stops attribute escapes, not resource abuse, so
every place where a render can spend is counted or checked here, before the work is done:

* operations — loop iterations, calls, filters, attribute and item lookups, outputs — up to
  ``MAX_OPERATIONS`` per render, and CPU time up to ``MAX_SECONDS`` (the thread's own CPU time, so
  a busy machine does not make a fair template fail);
* every string a render builds (by a filter, a method, ``~``, ``+``, ``*``, ``%``, formatting)
  stays within ``MAX_TEXT`` characters and every list within ``MAX_ITEMS`` items: the sizes are
  worked out from the arguments first, so ``center(10**8)`` is refused without allocating.

A render on the event loop (``inline``) may spend ``INLINE_SECONDS``; past that it raises
``MoveToThread`` and the caller renders again in a worker thread with the full budget, so the
loop is never held for long (templates are pure: a second render gives the same result).
"""

from __future__ import annotations

import contextlib
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.utils import pass_environment

MAX_TEXT = 256 * 1024  # characters of any string a render builds, its output included
MAX_ITEMS = 100_000  # items of any list a render builds
MAX_OPERATIONS = 500_000
MAX_SECONDS = 2.0  # CPU seconds of one render
INLINE_SECONDS = 0.02  # on the event loop; then the render moves to a thread
MAX_INT_BITS = 4096
LOOP = "jivocrm_loop"  # internal filters the code generator inserts (not for bundle authors)
CONCAT = "jivocrm_concat"
INTERNAL_FILTERS = (LOOP, CONCAT)


class OverBudget(Exception):
    """The render tried to spend more than its budget; the message says on what."""


class MoveToThread(Exception):
    """An inline render used its share of the event loop; render again in a thread."""


@dataclass
class Budget:
    cpu_limit: float
    inline: bool
    started: float = field(default_factory=time.thread_time)
    operations: int = 0

    def tick(self, count: int = 1) -> None:
        self.operations += count
        if self.operations > MAX_OPERATIONS:
            raise OverBudget(f"more than {MAX_OPERATIONS} operations")
        if self.operations & 255 == 0:
            self.check_time()

    def check_time(self) -> None:
        if time.thread_time() - self.started > self.cpu_limit:
            if self.inline:
                raise MoveToThread()
            raise OverBudget(f"more than {MAX_SECONDS:g} s of CPU time")


_CURRENT: ContextVar[Budget | None] = ContextVar("jivocrm_template_budget", default=None)


@contextlib.contextmanager
def budget(*, inline: bool = False) -> Iterator[Budget]:
    """The budget of the render now running, or a new one for a render that starts here."""
    current = _CURRENT.get()
    if current is not None:
        yield current
        return
    fresh = Budget(INLINE_SECONDS if inline else MAX_SECONDS, inline)
    token = _CURRENT.set(fresh)
    try:
        yield fresh
    finally:
        _CURRENT.reset(token)


def tick(count: int = 1) -> None:
    current = _CURRENT.get()
    if current is not None:
        current.tick(count)


# ---- sizes -----------------------------------------------------------------------------------
def weight(value: Any, cap: int = MAX_TEXT) -> int:
    """About how many characters ``str(value)`` takes; stops counting once past ``cap``."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
        else:
            total += 8
        if total > cap:
            return total
    return total


def check_text(size: int, what: str) -> None:
    if size > MAX_TEXT:
        raise OverBudget(f"{what} would be longer than {MAX_TEXT} characters")


def check_count(count: Any, what: str) -> None:
    if isinstance(count, int) and not isinstance(count, bool) and abs(count) > MAX_ITEMS:
        raise OverBudget(f"{what} {count} is above {MAX_ITEMS}")


def check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and not isinstance(width, bool) and width > MAX_TEXT:
        raise OverBudget(f"{what} {width} is above {MAX_TEXT}")


def check_result(value: Any, what: str) -> Any:
    if isinstance(value, str):
        check_text(len(value), what)
    elif isinstance(value, (list, tuple, dict, set)) and len(value) > MAX_ITEMS:
        raise OverBudget(f"{what} would hold more than {MAX_ITEMS} items")
    return value


# %-formatting: flags, then a width and a precision that may each be a number or '*'.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_printf(fmt: str, args: Any) -> None:
    """``fmt % args`` (the ``format`` filter, the ``%`` operator) within the text bound."""
    star = False
    for width, precision in _PRINTF.findall(fmt):
        for number in (width, precision):
            star = star or number == "*"
            if number.isdigit():
                check_width(int(number), "a format width")
    values = args if isinstance(args, (tuple, list)) else [args]
    if star:
        for value in values:
            check_width(value, "a format width")
    check_text(len(fmt) + weight(values), "the formatted text")


def check_format_spec(fmt: str) -> None:
    """``str.format``: no width or precision above the bound, none taken from an argument."""
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            raise OverBudget("a format width taken from an argument is not allowed")
        for number in re.findall(r"\d+", spec):
            check_width(int(number), "a format width")


# ---- operators -------------------------------------------------------------------------------
def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def check_binop(operator: str, left: Any, right: Any) -> None:
    tick()
    if operator == "*":
        count = right if isinstance(right, int) else left if isinstance(left, int) else None
        seq = left if count is right else right
        if isinstance(count, int) and isinstance(seq, str):
            check_text(len(seq) * abs(count), "'*'")
        elif isinstance(count, int) and isinstance(seq, (list, tuple)):
            if len(seq) * abs(count) > MAX_ITEMS:
                raise OverBudget(f"'*' would build more than {MAX_ITEMS} items")
        elif (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > MAX_INT_BITS
        ):
            raise OverBudget(f"'*' would build a number of more than {MAX_INT_BITS} bits")
    elif operator == "+":
        if isinstance(left, str) or isinstance(right, str):
            check_text(_size(left) + _size(right), "'+'")
        elif _size(left) + _size(right) > MAX_ITEMS:
            raise OverBudget(f"'+' would build more than {MAX_ITEMS} items")
    elif operator == "%" and isinstance(left, str):
        check_printf(left, right)


# ---- methods ---------------------------------------------------------------------------------
def _text_method(name: str, text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    if name in ("center", "ljust", "rjust", "zfill"):
        check_width(args[0] if args else kwargs.get("width"), f"{name}() width")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            check_text(len(text) + text.count("\t") * size, "expandtabs()")
    elif name == "replace" and len(args) >= 2:
        check_replace(text, args[0], args[1], args[2] if len(args) > 2 else None)
    elif name == "join" and args:
        check_join(text, args[0])


def check_method(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """A method call on a string, checked by what it would build."""
    tick()
    owner = getattr(obj, "__self__", None)
    if isinstance(obj, (types.BuiltinMethodType, types.MethodType)) and isinstance(owner, str):
        _text_method(obj.__name__, owner, args, kwargs)


def check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    check_text(len(text) + found * max(0, len(new) - len(old)), "replace()")


def check_join(separator: Any, items: Any) -> None:
    if isinstance(items, (list, tuple)):
        sep = len(separator) if isinstance(separator, str) else 0
        check_text(weight(items) + sep * len(items), "join()")


# ---- filters ---------------------------------------------------------------------------------
def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _indent(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    text, width = args[0], _arg(args, kwargs, 1, "width")
    check_width(width, "indent width")
    if isinstance(text, str) and isinstance(width, (int, str)):
        pad = width if isinstance(width, int) else len(width)
        check_text(len(text) + (text.count("\n") + 1) * pad, "indent")


def _wordwrap(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    text, width, wrap = args[0], _arg(args, kwargs, 1, "width"), _arg(args, kwargs, 3, "wrapstring")
    if isinstance(text, str) and isinstance(wrap, str):
        lines = len(text) // max(1, width if isinstance(width, int) else 79) + 1
        check_text(len(text) + lines * len(wrap), "wordwrap")


def _sum(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    start = _arg(args, kwargs, 2, "start")
    if start is not None and not isinstance(start, (int, float)):
        items = args[0] if isinstance(args[0], (list, tuple)) else []
        check_text(weight([start, *items]), "sum")


PRECHECKS: dict[str, Callable[[tuple[Any, ...], Mapping[str, Any]], None]] = {
    "center": lambda a, k: check_width(_arg(a, k, 1, "width"), "center width"),
    "indent": _indent,
    "wordwrap": _wordwrap,
    "batch": lambda a, k: check_count(_arg(a, k, 1, "linecount"), "batch size"),
    "slice": lambda a, k: check_count(_arg(a, k, 1, "slices"), "slices"),
    "replace": lambda a, k: check_replace(
        a[0], _arg(a, k, 1, "old"), _arg(a, k, 2, "new"), _arg(a, k, 3, "count")
    ),
    "format": lambda a, k: check_printf(a[0], a[1:] or k) if isinstance(a[0], str) else None,
    "join": lambda a, k: check_join(_arg(a, k, 1, "d") or "", a[0]),
    "tojson": lambda a, k: check_text(weight(a[0]) * 2, "tojson"),
    "pprint": lambda a, k: check_text(weight(a[0]) * 2, "pprint"),
    "string": lambda a, k: check_text(weight(a[0]), "string"),
    "sum": _sum,
    "urlize": lambda a, k: check_text(weight(a[0]) * 4, "urlize"),
    "xmlattr": lambda a, k: check_text(weight(a[0]) * 2, "xmlattr"),
}
# Filters whose first argument may be an iterator: materialised (bounded) so it can be weighed.
MATERIALISE = frozenset({"join", "sum"})


def materialise(values: Iterable[Any], what: str) -> list[Any]:
    """An iterator as a list, each item counted, at most ``MAX_ITEMS`` of them."""
    items = []
    for item in values:
        tick()
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise OverBudget(f"{what} of more than {MAX_ITEMS} items")
    return items


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` (a filter) with its arguments checked first and its result after."""
    passes = getattr(func, "jinja_pass_arg", None) is not None
    precheck = PRECHECKS.get(name)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        lead, rest = (args[:1], args[1:]) if passes else ((), args)
        if rest and name in MATERIALISE and not isinstance(rest[0], (str, list, tuple, dict)):
            rest = (materialise(rest[0], name), *rest[1:])
        if precheck is not None and rest:
            precheck(rest, kwargs)
        return check_result(func(*lead, *rest, **kwargs), f"the {name} filter's result")

    guarded.__name__ = getattr(func, "__name__", name)
    if passes:
        guarded.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    return guarded


def counted(values: Iterable[Any]) -> Iterator[Any]:
    """A loop's iterable, each iteration counted."""
    current = _CURRENT.get()
    for value in values:
        if current is not None:
            current.tick()
        yield value


def join_text(parts: Iterable[str]) -> str:
    """What Jinja joins a captured block with (``{% filter %}``, ``{% set %}…{% endset %}``, a
    macro's body): a loop inside may emit the same large string thousands of times."""
    pieces = parts if isinstance(parts, list) else list(parts)
    check_text(sum(len(p) for p in pieces), "the text a block builds")
    return "".join(pieces)


def join_argument(obj: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``str.join`` of an iterator (``','.join(items | map('string'))``): materialised here,
    bounded, so its size is checked before the join allocates it."""
    if not (
        isinstance(obj, types.BuiltinMethodType)
        and obj.__name__ == "join"
        and isinstance(getattr(obj, "__self__", None), str)
        and args
        and not isinstance(args[0], (str, list, tuple))
    ):
        return args
    return (materialise(args[0], "join()"), *args[1:])


def concat(values: list[Any]) -> str:
    """``a ~ b``, with the size of the result checked before it is built."""
    tick(len(values))
    check_text(weight(values), "'~'")
    return "".join(str(v) for v in values)


@pass_environment
def finalize(environment: Any, value: Any) -> Any:
    """Every ``{{ … }}`` of a text template, before it becomes text."""
    tick()
    if not isinstance(value, str):
        check_method_value(value)
        check_text(weight(value), "an output")
    return value


def check_method_value(value: Any) -> None:
    """A method is no value: ``{{ event.page.title }}`` with a ``page`` that came as text would
    otherwise write "<built-in method title of str object at 0x…>" to the CRM."""
    if callable(value) and not isinstance(value, (type, Undefined)):
        name = getattr(value, "__name__", "?")
        raise TypeError(
            f"'{name}' names a method here, not a field: is its object of another type?"
        )


class BudgetCodeGenerator(CodeGenerator):
    """Jinja's code generator with every loop's iterable counted and every ``~`` checked."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP, [], [], None, None, lineno=loop.lineno)
        for parent in node.find_all(nodes.Node):
            for name in parent.fields:
                child = getattr(parent, name, None)
                if isinstance(child, nodes.Concat):
                    setattr(parent, name, _checked_concat(child))
                elif isinstance(child, list):
                    child[:] = [
                        _checked_concat(c) if isinstance(c, nodes.Concat) else c for c in child
                    ]
        super().visit_Template(node, frame)


# ---- what validate can see without rendering -------------------------------------------------
SIZE_FILTERS = {"center": (1, MAX_TEXT), "indent": (1, MAX_TEXT), "batch": (1, MAX_ITEMS),
                "slice": (1, MAX_ITEMS)}  # fmt: skip
SIZE_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _constant(node: nodes.Node) -> Any:
    if not isinstance(node, nodes.Expr):
        return None
    try:
        return node.as_const()
    except Exception:  # not a constant (Impossible), or one that fails: nothing to judge
        return None


def _number(node: nodes.Node) -> float | None:
    """A constant number, also through ``**`` and ``*`` (which the sandbox does not fold)."""
    if isinstance(node, nodes.Const):
        value = node.value
        return (
            float(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else None
        )
    if isinstance(node, (nodes.Pow, nodes.Mul)):
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None:
            return None
        try:
            return (
                left**right
                if isinstance(node, nodes.Pow) and right <= 64
                else (left * right if isinstance(node, nodes.Mul) else float("inf"))
            )
        except OverflowError:
            return float("inf")
    return None


def _big(node: nodes.Node | None, limit: int) -> bool:
    value = None if node is None else _number(node)
    return value is not None and value > limit


def _loop_size(node: nodes.For) -> int | None:
    """Iterations of a loop over a constant ``range(…)``, else None."""
    call = node.iter
    if not (isinstance(call, nodes.Call) and isinstance(call.node, nodes.Name)):
        return None
    if call.node.name != "range" or call.kwargs or call.dyn_args or call.dyn_kwargs:
        return None
    values = [_number(a) for a in call.args]
    if not values or any(v is None or v != int(v) for v in values):
        return None
    try:
        return len(range(*[int(v) for v in values if v is not None]))
    except (ValueError, TypeError, OverflowError):
        return None


def _nested_iterations(node: nodes.Node, outer: int = 1) -> int:
    """The most iterations nested constant loops make (inner loops multiply)."""
    best = outer
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.For):
            size = _loop_size(child)
            inner = outer * size if size is not None else outer
            best = max(best, _nested_iterations(child, inner))
        else:
            best = max(best, _nested_iterations(child, outer))
    return best


def static_problems(tree: nodes.Template) -> list[str]:
    """What a render would certainly refuse, seen in the template's constants."""
    problems: list[str] = []
    for node in tree.find_all((nodes.Filter, nodes.Call, nodes.Mod)):
        if isinstance(node, nodes.Filter) and node.name in SIZE_FILTERS:
            index, limit = SIZE_FILTERS[node.name]
            arg = node.args[index - 1] if len(node.args) >= index else None
            if _big(arg, limit) or any(_big(k.value, limit) for k in node.kwargs):
                problems.append(f"|{node.name} with a size above {limit} is not allowed")
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr in SIZE_METHODS
            and any(_big(a, MAX_TEXT) for a in node.args)
        ):
            problems.append(f".{node.node.attr}() with a width above {MAX_TEXT} is not allowed")
        fmt = None
        if isinstance(node, nodes.Mod):
            fmt = _constant(node.left)
        elif isinstance(node, nodes.Filter) and node.name == "format" and node.node is not None:
            fmt = _constant(node.node)
        if isinstance(fmt, str):
            try:
                check_printf(fmt, ())
            except OverBudget as exc:
                problems.append(f"{exc}: not allowed in a template")
    iterations = _nested_iterations(tree)
    if iterations > MAX_OPERATIONS:
        problems.append(
            f"nested loops of {iterations} iterations; a render stops after {MAX_OPERATIONS}"
        )
    return problems


def _checked_concat(node: nodes.Concat) -> nodes.Filter:
    operands = nodes.List(list(node.nodes), lineno=node.lineno)
    return nodes.Filter(operands, CONCAT, [], [], None, None, lineno=node.lineno)


__all__ = [
    "CONCAT",
    "INLINE_SECONDS",
    "INTERNAL_FILTERS",
    "LOOP",
    "MAX_ITEMS",
    "MAX_OPERATIONS",
    "MAX_SECONDS",
    "MAX_TEXT",
    "BudgetCodeGenerator",
    "MoveToThread",
    "OverBudget",
    "budget",
    "check_binop",
    "check_format_spec",
    "check_method",
    "check_result",
    "concat",
    "counted",
    "finalize",
    "guard_filter",
    "join_argument",
    "join_text",
    "static_problems",
    "tick",
    "weight",
]
