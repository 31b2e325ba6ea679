"""Jivo payloads parse tolerantly: types drift, keys go missing, nulls appear, extras stay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jivocrm import samples
from jivocrm.engine.events import EventError, parse_event


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = samples.load(name)
    return data


def test_chat_accepted_gets_the_computed_fields() -> None:
    event = parse_event(sample("chat_accepted"))
    assert event.name == "chat_accepted"
    assert event.is_known
    assert event["operator"] == {
        "id": "412587",
        "name": "Ольга Петрова",
        "email": "o.petrova@shop-example.ru",
        "phone": "+74951112233",
    }
    assert event["phone"] == "+79161234567"
    assert event["email"] == "anna.smirnova@mail.ru"
    assert event["chat"] is None
    assert event.chat_id == "58213"
    assert event["chat_id"] == 58213


def test_chat_finished_transcript_names_the_agents() -> None:
    event = parse_event(sample("chat_finished"))
    lines = event["transcript"].splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("Посетитель: Здравствуйте! Есть ли диван «Лофт» в сером цвете?")
    assert "Ольга Петрова: Добрый день" in lines[1]
    assert "Дмитрий Ковалёв: Передал" in lines[3]
    assert event["operator"]["id"] == "412587"  # the first of agents[]


def test_offline_message_without_chat_id_keys_on_the_visitor() -> None:
    payload = sample("offline_message")
    assert payload.pop("chat_id")  # Jivo's current example has one; the older API sent none
    event = parse_event(payload)
    assert event.chat_id is None
    assert event["chat_id"] is None
    assert event.visitor_key == "10511"
    assert event["phone"] == "+79035551234"  # "+7 (903) 555-12-34"
    assert event["operator"] == {"id": None, "name": None, "email": None, "phone": None}
    assert event["transcript"].startswith("Посетитель: Добрый вечер")


def test_chat_finished_transcript_on_the_project_clock() -> None:
    event = parse_event(sample("chat_finished"), timezone="Europe/Moscow")
    first = event["transcript"].splitlines()[0]
    # 1732444801 is 10:40 UTC: a Moscow manager reads 13:40.
    assert first.startswith("[13:40] Посетитель: Здравствуйте!")
    assert parse_event(sample("chat_finished"))["transcript"].startswith("[10:40] ")


def test_an_agent_message_without_an_id_takes_the_only_agent_name() -> None:
    payload = sample("chat_finished")
    payload["agents"] = payload["agents"][:1]
    for message in payload["chat"]["messages"]:
        message.pop("agent_id", None)
    lines = parse_event(payload)["transcript"].splitlines()
    assert "] Ольга Петрова: Добрый день" in lines[1]
    assert "Оператор" not in parse_event(payload)["transcript"]


def test_documented_client_blocks_are_filled_when_null() -> None:
    event = parse_event(sample("chat_finished"))  # organization, status… null; tags []
    assert event["organization"] == {"id": None, "name": None}
    assert event["assigned_agent"] == {"id": None, "email": None, "name": None}
    assert event["tags"] == []
    assert event["status"]["title"] is None


def test_a_required_nested_block_is_filled_an_optional_one_stays_null() -> None:
    payload = sample("chat_accepted")
    payload["session"] = {"ip_addr": "83.149.21.17"}
    event = parse_event(payload)
    assert event["session"]["geoip"]["city"] is None
    assert event["session"]["utm_json"] is None
    assert payload["session"] == {"ip_addr": "83.149.21.17"}


@pytest.mark.parametrize(
    "attributes",
    [
        {"city": "Казань", "order_total": 45000},
        [{"city": "Казань"}, {"order_total": 45000}],
        [["city", "Казань"], ["order_total", 45000]],
    ],
)
def test_client_attributes_read_as_a_map_whatever_the_brackets(attributes: Any) -> None:
    payload = sample("client_attribute_updated")
    payload["attributes"] = attributes
    event = parse_event(payload)
    assert event["attributes"] == {"city": "Казань", "order_total": 45000}
    assert event["client_id"] == 91834


@pytest.mark.parametrize("key", ["agent", "assigned_agent"])
def test_chat_assigned_operator_from_either_key(key: str) -> None:
    payload = sample("chat_assigned")
    payload.pop("agent")
    agent = payload.pop("assigned_agent")
    payload[key] = {**agent, "id": 412587}
    assert parse_event(payload)["operator"]["id"] == "412587"


def test_call_event_phone_comes_from_the_call_when_the_visitor_has_none() -> None:
    payload = sample("call_event")
    payload["visitor"] = None
    event = parse_event(payload)
    assert event["phone"] == "+79263334455"
    assert event["visitor"]["name"] is None  # a null block is filled, never a template error


def test_int_and_text_ids_and_nulls_anywhere() -> None:
    payload = sample("chat_accepted")
    payload["chat_id"] = "58213"
    payload["visitor"]["number"] = 10482
    payload["agent"] = None
    payload["session"] = None
    event = parse_event(payload)
    assert event.chat_id == "58213"
    assert event.visitor_key == "10482"
    assert event["session"]["utm"] is None
    # No agent: the employee responsible for the client (an int id in Jivo's example) handles it.
    assert event["operator"]["id"] == "412587"
    payload["assigned_agent"] = None
    assert parse_event(payload)["operator"]["email"] is None


def test_missing_blocks_are_present_as_null_and_unknown_keys_kept() -> None:
    event = parse_event({"event_name": "chat_finished", "widget_id": "w", "surprise": [1]})
    assert event["surprise"] == [1]
    assert event["agents"] == []
    assert event["visitor"]["email"] is None
    assert event["transcript"] == ""
    assert event["phone"] is None
    assert event["email"] is None
    assert event.raw == {"event_name": "chat_finished", "widget_id": "w", "surprise": [1]}


def test_unknown_event_name_is_not_an_error() -> None:
    event = parse_event({"event_name": "chat_teleported"})
    assert not event.is_known
    assert event.name == "chat_teleported"


@pytest.mark.parametrize(
    "payload", [[], "x", {"chat_id": 1}, {"event_name": 5}, {"event_name": ""}]
)
def test_what_is_not_an_event_is_refused(payload: Any) -> None:
    with pytest.raises(EventError):
        parse_event(payload)


def test_region_decides_local_numbers() -> None:
    payload = {"event_name": "chat_updated", "visitor": {"phone": "030 1234567"}}
    assert parse_event(payload, region="DE")["phone"] == "+49301234567"


def test_parsing_never_changes_the_payload_it_was_given() -> None:

    from jivocrm.engine.events import parse_event

    for sample in samples.names():
        payload = samples.load(sample)
        before = json.dumps(payload, sort_keys=True)
        event = parse_event(payload)
        assert json.dumps(payload, sort_keys=True) == before, sample
        assert "operator" in event, sample


def test_the_channel_is_named_by_the_project_or_by_the_webhook_it_came_in_on() -> None:
    from jivocrm.engine.matching import match
    from jivocrm.engine.model import Bundle, Channel, Condition, Project

    assert parse_event(sample("chat_accepted"))["channel"] is None
    named = parse_event(sample("chat_accepted"), channels={"aB3dE5fGh7": "shop"})
    assert named["channel"] == "shop"
    bundle = Bundle(
        name="shop-only",
        file="b.yaml",
        event="chat_accepted",
        steps=(),
        filter=((Condition("channel", "equals", "shop"),),),
    )
    project = Project(Path("."), Path("jivocrm.yaml"), (bundle,), channels={}, connections={})
    event = parse_event(sample("chat_accepted"))  # as intake parses it: no project channels
    (found,) = match(project, event, Channel("shop", "aB3dE5fGh7", "token"))
    assert found.matched, found.reason
