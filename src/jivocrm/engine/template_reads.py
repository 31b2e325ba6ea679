"""What a template reads, and what protects each read from a value that is not there.

``validate`` asks this of every template: ``{{ event.agents[0].email }}`` fails at run time on a
chat with no agents, ``{{ event.agents[0].email | default('') }}`` does not, nor does
``{% if event.agents %}{{ event.agents[0].email }}{% endif %}``. A read is *defaulted* under a
``default`` filter or an ``is defined`` test, and *tested* by the chains an enclosing ``if``, a
conditional expression or the left side of an ``and`` looks at.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, nodes

from jivocrm.engine.templates import _chain, environment

Chain = tuple[str | int, ...]
DEFAULT_FILTERS = frozenset({"default", "d"})
PRESENCE_TESTS = frozenset({"defined", "undefined", "none"})


@dataclass(frozen=True)
class Read:
    chain: Chain
    defaulted: bool = False
    tested: frozenset[Chain] = frozenset()
    called: bool = False  # the chain is a method call: `visitor.name.upper()`


def _chains(node: nodes.Node) -> frozenset[Chain]:
    return frozenset(r.chain for r in _walk(node, False, frozenset()))


def _walk(node: nodes.Node, defaulted: bool, tested: frozenset[Chain]) -> Iterator[Read]:
    if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
        chain = _chain(node)
        if chain is not None:
            yield Read(tuple(chain), defaulted, tested)
            return
    if isinstance(node, nodes.Call) and isinstance(node.node, (nodes.Getattr, nodes.Getitem)):
        chain = _chain(node.node)
        if chain is not None:
            yield Read(tuple(chain), defaulted, tested, called=True)
            for arg in (*node.args, *(kw.value for kw in node.kwargs)):
                yield from _walk(arg, defaulted, tested)
            return
    if isinstance(node, nodes.Filter) and node.name in DEFAULT_FILTERS and node.node is not None:
        yield from _walk(node.node, True, tested)
        for arg in (*node.args, *(kw.value for kw in node.kwargs)):
            yield from _walk(arg, defaulted, tested)
        return
    if isinstance(node, nodes.Test) and node.name in PRESENCE_TESTS:
        yield from _walk(node.node, True, tested)
        return
    if isinstance(node, (nodes.If, nodes.CondExpr)):
        yield from _walk(node.test, defaulted, tested)
        inner = tested | _chains(node.test)
        for child in node.iter_child_nodes():
            if child is not node.test:
                yield from _walk(child, defaulted, inner)
        return
    if isinstance(node, nodes.And):
        yield from _walk(node.left, defaulted, tested)
        yield from _walk(node.right, defaulted, tested | _chains(node.left))
        return
    for child in node.iter_child_nodes():
        yield from _walk(child, defaulted, tested)


@functools.lru_cache(maxsize=8192)
def reads(source: str) -> tuple[Read, ...]:
    """Every maximal chain the template reads, with what guards it; () when it does not parse."""
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError:
        return ()
    return tuple(_walk(tree, False, frozenset()))


__all__ = ["Read", "reads"]
