"""Templates over a parsed event: types kept, computed fields usable, visitor text inert."""

from __future__ import annotations

import pytest

from jivocrm.core.errors import TemplateError
from jivocrm.engine.events import parse_event
from jivocrm.engine.templates import TIMEZONE_KEY, render

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


def test_dates_and_the_transcript_filter_keep_the_project_clock() -> None:
    moscow = {**CTX, TIMEZONE_KEY: "Europe/Moscow"}
    assert render("{{ 1732444801 | date('%d.%m.%Y %H:%M') }}", CTX) == "24.11.2024 10:40"
    assert render("{{ 1732444801 | date('%d.%m.%Y %H:%M') }}", moscow) == "24.11.2024 13:40"
    messages = [{"timestamp": 1732444835, "type": "agent", "agent_id": "1", "message": "Да"}]
    ctx = {**moscow, "messages": messages}
    assert render("{{ messages | transcript }}", ctx) == "[13:40] Ольга: Да"


def test_a_default_covers_a_list_item_that_is_not_there() -> None:
    empty = {"event": {**dict(EVENT), "agents": []}}
    assert render("{{ event.agents[0].email | default('нет') }}", empty) == "нет"
    with pytest.raises(TemplateError, match="item 0 is missing"):
        render("{{ event.agents[0].email }}", empty)
