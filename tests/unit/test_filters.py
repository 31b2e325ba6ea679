"""Filters decide with an explanation that quotes the actual value."""

from __future__ import annotations

from typing import Any

import pytest

from jivocrm.engine.events import parse_event
from jivocrm.engine.filters import evaluate, evaluate_filter, lookup
from jivocrm.engine.model import Condition

EVENT = parse_event(
    {
        "event_name": "chat_accepted",
        "chat_id": 58213,
        "widget_id": "aB3dE5fGh7",
        "visitor": {"name": "Анна", "email": None, "phone": "+79161234567", "chats_count": 3},
        "agents": [{"email": "o@x.ru"}],
        "tags": [{"id": "7", "title": "Оптовик"}],
    }
)


def test_lookup_paths() -> None:
    assert lookup(EVENT, "visitor.phone") == "+79161234567"
    assert lookup(EVENT, "agents[0].email") == "o@x.ru"
    assert lookup(EVENT, "agents.0.email") == "o@x.ru"


@pytest.mark.parametrize(
    ("field", "op", "value", "ok", "reason"),
    [
        ("visitor.email", "empty", None, True, "visitor.email is empty"),
        ("visitor.email", "not_empty", None, False, "visitor.email is empty"),
        (
            "visitor.phone",
            "starts_with",
            "8",
            False,
            "visitor.phone = '+79161234567' does not start with '8'",
        ),
        ("chat_id", "equals", "58213", True, "chat_id = 58213 equals '58213'"),
        ("visitor.chats_count", "gt", 2, True, "visitor.chats_count = 3 is greater than 2"),
        ("widget_id", "in", ["x", "aB3dE5fGh7"], True, "is in"),
        ("visitor.name", "matches", "^Ан", True, "matches"),
        ("visitor.nickname", "exists", None, False, "visitor.nickname (missing) does not exist"),
        ("email", "empty", None, True, "email is empty"),
    ],
)
def test_each_condition_explains_itself(
    field: str, op: str, value: Any, ok: bool, reason: str
) -> None:
    verdict = evaluate(Condition(field, op, value), EVENT)
    assert verdict.ok is ok
    assert reason in verdict.reason


def test_or_of_and_groups_names_the_deciding_conditions() -> None:
    email = (Condition("visitor.email", "not_empty"),)
    phone = (
        Condition("visitor.phone", "not_empty"),
        Condition("visitor.phone", "starts_with", "8"),
    )
    verdict = evaluate_filter((email, phone), EVENT)
    assert not verdict.ok
    assert verdict.reason == (
        "group 1: visitor.email is empty; "
        "group 2: visitor.phone = '+79161234567' does not start with '8'"
    )
    assert evaluate_filter((email, phone[:1]), EVENT).reason.startswith("filter group 2: ")
    assert evaluate_filter((), EVENT).ok


def test_the_explanation_reads_in_russian_and_stays_english_as_text() -> None:
    from jivocrm.core import i18n

    phone = Condition("visitor.phone", "not_empty", None)
    name = Condition("visitor.name", "equals", "Анна")
    failed = evaluate_filter(((phone, name),), {"visitor": {"phone": "+7916", "name": "Борис"}})
    held = evaluate_filter(((phone, name),), {"visitor": {"phone": "+7916", "name": "Анна"}})
    assert failed.reason == "visitor.name = 'Борис' does not equal 'Анна'"
    assert (
        held.reason
        == "filter: visitor.phone = '+7916' is not empty and visitor.name = 'Анна' equals 'Анна'"
    )
    with i18n.language("ru"):
        assert i18n.localized(failed.reason) == "visitor.name = 'Борис' не равно 'Анна'"
        assert i18n.localized(held.reason) == (
            "фильтр: visitor.phone = '+7916' не пусто и visitor.name = 'Анна' равно 'Анна'"
        )
