"""Templates keep types, refuse escapes and resource abuse, and never evaluate event data."""

from __future__ import annotations

import pytest

from jivocrm.core.errors import TemplateError
from jivocrm.core.values import truthy
from jivocrm.engine.templates import references, render, render_tree, syntax_error

CTX = {
    "event": {
        "chat_id": 58213,
        "visitor": {"name": "{{ 7*7 }}", "phone": "8 (916) 123-45-67", "email": "A@B.RU"},
        "chat": {"messages": [{"timestamp": 1732444801, "type": "visitor", "message": "Привет"}]},
    },
    "steps": {"contact": {"id": 31415926}},
}


def test_a_single_expression_keeps_its_type() -> None:
    assert render("{{ event.chat_id }}", CTX) == 58213
    assert render("{{ steps.contact }}", CTX) == {"id": 31415926}
    assert render("Чат #{{ event.chat_id }}", CTX) == "Чат #58213"


def test_literals_pass_through() -> None:
    assert render("Сделка из Jivo", CTX) == "Сделка из Jivo"
    assert render(42, CTX) == 42


def test_visitor_text_is_data_not_a_template() -> None:
    assert render("{{ event.visitor.name }}", CTX) == "{{ 7*7 }}"
    assert render("Имя: {{ event.visitor.name }}", CTX) == "Имя: {{ 7*7 }}"


def test_missing_field_names_the_field_and_suggests_a_default() -> None:
    with pytest.raises(TemplateError, match="field 'mail' is missing"):
        render("{{ event.visitor.mail }}", CTX)
    assert render("{{ event.visitor.mail | default('') }}", CTX) == ""


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ 'a' * 50000000 }}",
        "{{ [1] * 10000000 }}",
        "{{ 2 ** 100000 }}",
        "{{ range(10**7) | list }}",
    ],
)
def test_escapes_and_resource_abuse_fail_cleanly(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, CTX)


def test_filters() -> None:
    assert render("{{ event.visitor.phone | phone }}", CTX) == "+79161234567"
    assert render("{{ event.visitor.email | email }}", CTX) == "a@b.ru"
    assert render("{{ event.chat.messages | transcript }}", CTX) == "[10:40] Посетитель: Привет"


def test_render_tree_renders_nested_values() -> None:
    tree = {"fields": {"name": "{{ event.chat_id }}", "tags": ["x", "{{ steps.contact.id }}"]}}
    assert render_tree(tree, CTX) == {"fields": {"name": 58213, "tags": ["x", 31415926]}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", False),
        ("false", False),
        ("No", False),
        ("0", False),
        (None, False),
        ([], False),
        ("yes", True),
        ("x", True),
        (1, True),
    ],
)
def test_truthy(value: object, expected: bool) -> None:
    assert truthy(value) is expected


def test_static_analysis() -> None:
    assert syntax_error("{{ x }") is not None
    assert syntax_error("{{ x }}") is None
    chains = list(references("{{ event.agents[0].email }} {% if steps.c.id %}{% endif %}"))
    assert chains == [["event", "agents", 0, "email"], ["steps", "c", "id"]]
