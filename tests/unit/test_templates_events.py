"""Templates over a parsed event: types kept, computed fields usable, visitor text inert."""

from __future__ import annotations

import pytest

from jivocrm.engine.events import parse_event
from jivocrm.engine.templates import render
from jivocrm.errors import TemplateError

EVENT = parse_event(
    {
        "event_name": "chat_finished",
        "chat_id": 58213,
        "widget_id": "w",
        "visitor": {"name": "{{ 7*7 }}", "phone": "8 (916) 123-45-67", "email": "A@B.RU"},
        "agents": [{"id": 1, "name": "Ольга", "email": "o@x.ru"}],
        "chat": {"messages": [{"timestamp": 0, "type": "visitor", "message": "{% raw %}{{ x }}"}]},
    }
)
CTX = {"event": dict(EVENT), "steps": {}}


def test_types_and_computed_fields() -> None:
    assert render("{{ event.chat_id }}", CTX) == 58213
    assert render("{{ event.phone }}", CTX) == "+79161234567"
    assert render("{{ event.email }}", CTX) == "a@b.ru"
    assert render("{{ event.operator.name }}", CTX) == "Ольга"
    assert render("{{ event.visitor.phone | phone }}", CTX) == "+79161234567"


def test_visitor_text_is_never_evaluated() -> None:
    assert render("Имя: {{ event.visitor.name }}", CTX) == "Имя: {{ 7*7 }}"
    assert render("{{ event.transcript }}", CTX) == "[00:00] Посетитель: {% raw %}{{ x }}"


@pytest.mark.parametrize(
    "source",
    [
        "{{ event.__class__ }}",
        "{{ event.items.__self__.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ event.visitor.name.format.__globals__ }}",
    ],
)
def test_escapes_fail_cleanly(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, CTX)
