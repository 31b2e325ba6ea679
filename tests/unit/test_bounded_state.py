"""State that requests feed stays bounded: the phone cache by entries and by size, metric
labels by known sets."""

from __future__ import annotations

from jivocrm.core import phones
from jivocrm.core.phones import normalize_phone
from jivocrm.server.metrics import content_type_label, event_label


def test_text_that_cannot_be_a_phone_is_not_parsed_or_cached() -> None:
    before = phones._normalize.cache_info().currsize
    for n in range(20):
        assert normalize_phone(f"{n}" + "7" * 1_000_000) is None  # a 1 MB "phone"
        assert normalize_phone("+7" + "9" * (phones.MAX_DIGITS + n)) is None
    assert phones._normalize.cache_info().currsize == before


def test_the_phone_cache_holds_little_text_even_when_full() -> None:
    info = phones._normalize.cache_info()
    assert info.maxsize is not None
    assert info.maxsize * phones.MAX_TEXT <= 1_000_000  # at most ~1 MB of keys, whatever comes


def test_phones_as_people_write_them_still_normalise() -> None:
    assert normalize_phone("+7 (916) 123-45-67") == "+79161234567"
    assert normalize_phone("8 916 123 45 67") == "+79161234567"


def test_labels_come_from_known_sets() -> None:
    assert event_label("chat_finished") == "chat_finished"
    assert event_label("x" * 10_000) == "other"
    assert event_label(None) == "-"
    assert content_type_label("Application/JSON; charset=utf-8") == "application/json"
    assert content_type_label("application/evil+" + "x" * 1000) == "other"
    assert content_type_label(None) == "none"
