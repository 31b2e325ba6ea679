"""Wire formats: PHP query strings for batch commands, and PHP's `[]` for an empty map."""

from __future__ import annotations

from jivocrm.connectors.bitrix24.emulator_dispatch import parse_query, php_json
from jivocrm.connectors.bitrix24.rest import as_items, as_map, build_query


def test_build_query_writes_nested_fields() -> None:
    query = build_query(
        {"fields": {"NAME": "Анна Смирнова", "PHONE": [{"VALUE": "+79161234567"}], "X": None}}
    )
    assert query == (
        "fields[NAME]=%D0%90%D0%BD%D0%BD%D0%B0%20%D0%A1%D0%BC%D0%B8%D1%80%D0%BD%D0%BE%D0%B2%D0%B0"
        "&fields[PHONE][0][VALUE]=%2B79161234567"
    )


def test_query_round_trip_keeps_structure_and_references() -> None:
    params = {
        "fields": {
            "TITLE": "Заявка & вопрос = ?",
            "CONTACT_IDS": ["$result[contact]"],
            "PHONE": [{"VALUE": "+79161234567", "VALUE_TYPE": "WORK"}],
        },
        "params": {"REGISTER_SONET_EVENT": True},
    }
    assert parse_query(build_query(params)) == {
        "fields": {
            "TITLE": "Заявка & вопрос = ?",
            "CONTACT_IDS": ["$result[contact]"],
            "PHONE": [{"VALUE": "+79161234567", "VALUE_TYPE": "WORK"}],
        },
        "params": {"REGISTER_SONET_EVENT": "1"},
    }


def test_php_json_writes_empty_maps_as_lists() -> None:
    assert php_json({"result": {}, "nested": {"a": {}}, "list": [{}]}) == {
        "result": [],
        "nested": {"a": []},
        "list": [[]],
    }


def test_empty_list_and_map_read_alike() -> None:
    assert as_map([]) == as_map({}) == as_map(None) == {}
    assert as_items({"0": "a", "1": "b"}) == ["a", "b"]
    assert as_items([]) == as_items({}) == []
