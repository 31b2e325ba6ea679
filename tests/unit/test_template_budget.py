"""Templates within a budget: operations, CPU time and the size of every string and list a
render builds. A hostile template fails its render with a message naming the limit, before it
allocates what it asked for; ``validate`` refuses what it can see in constants; a slow render
leaves the event loop to a worker thread."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

import pytest

from jivocrm.core.errors import TemplateError
from jivocrm.engine import template_budget
from jivocrm.engine.templates import render, render_async, unsafe

CONTEXT: dict[str, Any] = {
    "event": {
        "tags": [{"id": 1, "title": "VIP"}, {"id": 2, "title": "опт"}],
        "visitor": {"name": "Ира"},
        "chat": {"messages": [{"message": "Здравствуйте"}] * 3},
    },
    "steps": {},
    "bundle": {"name": "b"},
    "run": {"id": 1},
    "now": None,
}
BIG = "(['x' * 100000] * 100000)"  # 100,000 references to one 100 KB string: cheap to build

HOSTILE = {
    "center": ("{{ 'x' | center(10**8) }}", "center width"),
    "format filter": ("{{ '%100000000d' | format(1) }}", "format width"),
    "printf star": ("{{ '%*d' % (10**8, 1) }}", "format width"),
    "str.format": ("{{ '{:>100000000}'.format(1) }}", "format width"),
    "ljust": ("{{ 'x'.ljust(10**8) }}", "ljust() width"),
    "replace": ("{{ ('x' * 100000).replace('x', 'x' * 100000) }}", "replace()"),
    "join filter": (f"{{{{ {BIG} | join }}}}", "join()"),
    "str.join": (f"{{{{ ','.join({BIG}) }}}}", "join()"),
    "tojson": (f"{{{{ {BIG} | tojson }}}}", "tojson"),
    "concat": (f"{{{{ {BIG} ~ '' }}}}", "'~'"),
    "output": (f"{{{{ {BIG} }}}}", "longer than"),
    "text output": (f"x{{{{ {BIG} }}}}", "longer than"),
    "batch": ("{{ [1] | batch(10**8, 'x') | list }}", "batch size"),
    # 100,000 filter calls: the operations or CPU bound may come first (tracemalloc is slow).
    "str.join of a generator": (f"{{{{ ','.join({BIG} | map('string')) }}}}", "over its budget"),
    "captured block": (
        "{% set big = 'x' * 200000 %}{% filter upper %}"
        "{% for i in range(100000) %}{{ big }}{% endfor %}{% endfilter %}",
        "the text a block builds",
    ),
    "block set": (
        "{% set big = 'x' * 200000 %}{% set all %}"
        "{% for i in range(100000) %}{{ big }}{% endfor %}{% endset %}{{ all | length }}",
        "the text a block builds",
    ),
    "macro body": (
        "{% macro m(s) %}{% for i in range(100000) %}{{ s }}{% endfor %}{% endmacro %}"
        "{{ m('x' * 200000) | length }}",
        "the text a block builds",
    ),
    "indent": ("{{ ('\\n' * 100000) | indent(100) }}", "indent"),
    "nested loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "operations",
    ),
    "recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nested too deeply"),
    "undefined in a list": ("{{ event.tags | map(attribute='colour') | list }}", "'colour'"),
}


@pytest.mark.parametrize(("source", "says"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_template_fails_before_it_spends(source: str, says: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError) as failed:
            render(source, CONTEXT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert says in str(failed.value)
    assert peak < 30 * 2**20, f"{peak / 2**20:.0f} MB"


def test_int_products_are_bounded() -> None:
    with pytest.raises(TemplateError, match="4096 bits"):
        render("{{ (2 ** 60) ** 2 * (2 ** 60) ** 2 * " + " * ".join(["(2 ** 60)"] * 70) + " }}", {})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ event.visitor.name }}", "Ира"),
        ("{{ event.tags | map(attribute='title') | join(', ') }}", "VIP, опт"),
        (
            "{% for m in event.chat.messages %}{{ m.message ~ '!' }}{% endfor %}",
            "Здравствуйте!" * 3,
        ),
        ("{{ '%s-%05d' % ('a', 42) }}", "a-00042"),
        ("{{ 'x' | center(9) }}", "    x    "),
        ("{{ [1, 2] + [3] }}", [1, 2, 3]),
        ("{{ range(3) | list }}", [0, 1, 2]),
        ("{% for i in range(1000) %}{{ i % 10 }}{% endfor %}", "0123456789" * 100),
        ("{% filter upper %}{{ event.visitor.name }}{% endfilter %}", "ИРА"),
        (
            "{% macro hi(n) %}Привет, {{ n }}{% endmacro %}{{ hi(event.visitor.name) }}",
            "Привет, Ира",
        ),
        ("{{ ','.join(event.tags | map(attribute='title')) }}", "VIP,опт"),
    ],
)
def test_ordinary_templates_render_as_before(source: str, expected: Any) -> None:
    assert render(source, CONTEXT) == expected


def test_globals_outside_the_bundle_names_are_gone() -> None:
    with pytest.raises(TemplateError, match="lipsum"):
        render("{{ lipsum(10**6) }}", CONTEXT)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("{{ 'x' | center(10**8) }}", "|center"),
        ("{{ 'x' | indent(width=10**9) }}", "|indent"),
        ("{{ [1] | batch(10**8) }}", "|batch"),
        ("{{ 'x'.ljust(10**7) }}", ".ljust()"),
        ("{{ '%100000000d' | format(1) }}", "format width"),
        ("{{ '%100000000d' % 1 }}", "format width"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "nested",
        ),
    ],
)
def test_validate_refuses_what_constants_show(source: str, says: str) -> None:
    assert any(says in problem for problem in unsafe(source)), unsafe(source)


def test_validate_leaves_fair_templates_alone() -> None:
    for source in ("{{ event.visitor.name | center(40) }}", "{% for i in range(10) %}{% endfor %}"):
        assert unsafe(source) == []


async def test_a_slow_render_leaves_the_event_loop_free() -> None:
    """While a render spends its whole CPU budget, a task on the loop keeps ticking: the render
    moved to a thread after its inline share."""
    source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    with pytest.raises(TemplateError, match="operations"):
        await render_async(source, CONTEXT)
    done.set()
    await task
    # Inline the loop would have stalled for the whole render (one gap ≈ its duration): here
    # it ticked throughout. The median gap is robust to a busy machine's odd long pause.
    assert len(gaps) > 5
    assert sorted(gaps)[len(gaps) // 2] < 0.1


def test_an_inline_render_hands_over_past_its_share() -> None:
    source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(template_budget.MoveToThread):
        render(source, CONTEXT, inline=True)


def test_a_missing_field_in_text_is_named_as_missing() -> None:
    with pytest.raises(TemplateError, match="field 'nope' is missing"):
        render("Привет, {{ event.nope }}", CONTEXT)


def test_a_method_is_no_value() -> None:
    # A `page` that came as text has no field `title`, only str.title: that is an error, not
    # "<built-in method title of str object at 0x…>" written to the CRM.
    for source in ("{{ event.page.title }}", "Страница: {{ event.page.title }}"):
        with pytest.raises(TemplateError, match="'title' names a method"):
            render(source, {"event": {"page": "https://shop.example/"}})
