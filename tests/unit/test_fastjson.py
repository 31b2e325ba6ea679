"""The fast JSON path reads and writes exactly what the standard library would."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jivocrm.core import fastjson, storable
from jivocrm.engine.events import parse_event
from jivocrm.engine.model import Bundle, Condition, Project

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_loads_gives_what_json_loads_gives(value: object) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert fastjson.loads(text.encode()) == json.loads(text)
    assert storable.loads(storable.dumps(value)) == storable.clean(value)


@pytest.mark.parametrize(
    "body",
    [
        b'{"chat_id": 123456789012345678901234567890}',  # beyond 64 bits: stays an exact int
        b'{"chat_id": -9223372036854775809}',
        b'{"chat_id": NaN}',  # orjson refuses: the standard library decides
        b'{"text": "\\ud800"}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_what_orjson_reads_differently_goes_to_the_standard_library(body: bytes) -> None:
    done, _ = fastjson.loads_fast(body)
    assert not done


def test_a_long_integer_keeps_every_digit() -> None:
    assert storable.loads(b'{"id": 123456789012345678901234567890}') == {
        "id": 123456789012345678901234567890
    }


def test_dumps_hands_datetimes_and_unknown_types_to_the_fallback() -> None:
    import datetime as dt

    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert json.loads(storable.dumps({"at": when, "n": 1})) == {"at": str(when), "n": 1}
    assert json.loads(storable.dumps({"bad": "\ud800"})) == {"bad": "\ufffd"}


def _project(*bundles: Bundle) -> Project:
    from pathlib import Path

    return Project(
        root=Path("."), file=Path("jivocrm.yaml"), bundles=bundles, channels={}, connections={}
    )


def _bundle(*conditions: Condition, lane: str | None = None) -> Bundle:
    return Bundle(
        "b", "b.yaml", "chat_finished", (), filter=(conditions,) if conditions else (), lane=lane
    )


def test_intake_leaves_out_only_the_fields_no_filter_or_lane_reads() -> None:
    assert _project(_bundle()).unread_at_intake == {"transcript", "phone"}
    assert _project(_bundle(Condition("phone", "not_empty"))).unread_at_intake == {"transcript"}
    assert _project(_bundle(lane="{{ event.transcript[:10] }}")).unread_at_intake == {"phone"}


def test_an_event_parsed_without_the_phone_still_finds_its_visitor_by_it() -> None:
    payload = {"event_name": "offline_message", "visitor": {"phone": "8 (916) 123-45-67"}}
    full = parse_event(payload)
    light = parse_event(payload, skip={"phone", "transcript"})
    assert "phone" not in light
    assert "transcript" not in light
    assert light.visitor_key == full.visitor_key == "+79161234567"
