"""Small steps and helpers: table_replace, jivo_reply, due dates, reply merging, matching."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from jivocrm.core.errors import StepError
from jivocrm.engine.events import parse_event
from jivocrm.engine.matching import match
from jivocrm.engine.model import Bundle, Channel, Condition, Project, Step
from jivocrm.engine.reply import merge_replies
from jivocrm.steps import jivo_reply, table_replace
from jivocrm.steps.base import StepContext
from jivocrm.steps.new_task import due_at

CTX = StepContext(step_id="s", bundle="b", connector=None, cache=None)
NOW = dt.datetime(2024, 11, 24, 12, 0, tzinfo=dt.UTC)


async def test_table_replace_compares_as_text_and_falls_back() -> None:
    table = {"3": "Продажи", "aB3dE5fGh7": "Сайт 1"}
    hit = await table_replace.run(CTX, {"value": 3, "table": table, "default": "Другое"})
    assert hit.output == {"value": "Продажи"}
    miss = await table_replace.run(CTX, {"value": "zzz", "table": table, "default": "Другое"})
    assert miss.output == {"value": "Другое"}


async def test_jivo_reply_drops_empty_parts() -> None:
    result = await jivo_reply.run(
        CTX,
        {
            "crm_link": "https://x/1",
            "contact_info": {"name": "Анна", "email": None, "phone": ""},
            "custom_data": [{"title": "a", "content": ""}, {"title": "b", "content": "B"}],
            "enable_assign": "true",
        },
    )
    assert result.output["reply"] == {
        "crm_link": "https://x/1",
        "contact_info": {"name": "Анна"},
        "custom_data": [{"title": "b", "content": "B"}],
        "enable_assign": True,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", NOW + dt.timedelta(minutes=30)),
        ("2h", NOW + dt.timedelta(hours=2)),
        ("1d", NOW + dt.timedelta(days=1)),
        ("2024-12-01T10:00:00+03:00", dt.datetime(2024, 12, 1, 7, 0, tzinfo=dt.UTC)),
        ("2024-12-01", dt.datetime(2024, 12, 1, tzinfo=dt.UTC)),
    ],
)
def test_due_as_duration_or_date(value: str, expected: dt.datetime) -> None:
    assert due_at(value, NOW) == expected


def test_due_refuses_nonsense() -> None:
    with pytest.raises(StepError, match="neither a duration"):
        due_at("tomorrow-ish", NOW)


def test_merge_replies() -> None:
    merged = merge_replies(
        [
            {"crm_link": "a", "contact_info": {"name": "A"}, "custom_data": [{"content": "1"}]},
            None,
            {"crm_link": "b", "contact_info": {"name": "B", "phone": "+7"}, "enable_assign": True},
            {"custom_data": [{"content": "2"}], "enable_assign": False},
        ]
    )
    assert merged == {
        "result": "ok",
        "crm_link": "a",
        "contact_info": {"name": "A", "phone": "+7"},
        "custom_data": [{"content": "1"}, {"content": "2"}],
        "enable_assign": True,
    }
    assert merge_replies([]) == {"result": "ok"}


async def test_jivo_reply_page_and_at_most_ten_custom_fields() -> None:
    """Jivo's reply parameters: `page` {url, title?}; custom_data shows ten fields at most."""
    page = {"url": "https://shop-example.ru/c", "title": None}
    result = await jivo_reply.run(CTX, {"page": page})
    assert result.output["reply"] == {"page": {"url": "https://shop-example.ru/c"}}
    assert (await jivo_reply.run(CTX, {"page": {"url": "", "title": "x"}})).output["reply"] == {}
    many = [{"custom_data": [{"content": str(n)}]} for n in range(12)]
    merged = merge_replies([{"page": {"url": "a"}}, *many, {"page": {"url": "b"}}])
    assert [item["content"] for item in merged["custom_data"]] == [str(n) for n in range(10)]
    assert merged["page"] == {"url": "a"}


def _bundle(name: str, **kw: Any) -> Bundle:
    step = Step("r", "table_replace", 0, {"value": 1, "table": {}})
    return Bundle(name, f"{name}.yaml", kw.pop("event", "chat_accepted"), (step,), **kw)


def test_match_explains_every_bundle_and_computes_lanes() -> None:
    project = Project(
        root=Path("."),
        file=Path("jivocrm.yaml"),
        bundles=(
            _bundle("ok"),
            _bundle("other-event", event="chat_finished"),
            _bundle("other-channel", channels=("Kx81LmQ0pz",)),
            _bundle("by-name", channels=("shop",)),
            _bundle("needs-email", filter=((Condition("visitor.email", "not_empty"),),)),
            _bundle("paused", enabled=False),
            _bundle("custom-lane", lane="{{ event.visitor.phone }}"),
        ),
        channels={},
        connections={},
    )
    event = parse_event(
        {
            "event_name": "chat_accepted",
            "chat_id": 7,
            "widget_id": "aB3dE5fGh7",
            "visitor": {"phone": "+79161234567", "email": ""},
        }
    )
    shop = Channel("shop", "aB3dE5fGh7", "${T}")
    found = {m.bundle.name: m for m in match(project, event, shop)}
    assert found["ok"].matched
    assert found["ok"].lane == "chat:aB3dE5fGh7:7"
    assert found["other-event"].reason == "event is chat_accepted; the bundle runs on chat_finished"
    assert "channel aB3dE5fGh7 (channel shop) is not served" in found["other-channel"].reason
    assert found["by-name"].matched
    assert found["needs-email"].reason == "visitor.email is empty"
    assert found["paused"].matched
    assert found["paused"].paused
    assert found["custom-lane"].lane == "custom:+79161234567"
    offline = parse_event(
        {"event_name": "offline_message", "widget_id": "w", "visitor": {"number": 10511}}
    )
    assert match(project, offline)[0].reason.startswith("event is offline_message")
    assert found["ok"].lane != offline.visitor_key
