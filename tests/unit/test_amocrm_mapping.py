"""Records to amoCRM JSON and back: the shapes the API documents."""

from __future__ import annotations

import pytest

from jivocrm.connectors.amocrm import mapping
from jivocrm.connectors.base import ContactData, DealData
from jivocrm.core.errors import FatalError


def test_contact_body_writes_phones_and_emails_by_field_code() -> None:
    body = mapping.contact_body(
        ContactData(
            name="Анна",
            phones=["+79161234567"],
            emails=["anna@mail.ru"],
            responsible_id="6100002",
            custom={"264915": "Менеджер"},
        )
    )
    assert body == {
        "name": "Анна",
        "responsible_user_id": 6100002,
        "custom_fields_values": [
            {"field_id": 264915, "values": [{"value": "Менеджер"}]},
            {"field_code": "PHONE", "values": [{"value": "+79161234567", "enum_code": "WORK"}]},
            {"field_code": "EMAIL", "values": [{"value": "anna@mail.ru", "enum_code": "WORK"}]},
        ],
    }


def test_deal_body_uses_integers() -> None:
    body = mapping.deal_body(
        DealData(name="Диван", price=45000.0, pipeline_id="7700001", stage_id="61000011")
    )
    assert body == {"name": "Диван", "price": 45000, "pipeline_id": 7700001, "status_id": 61000011}


def test_non_numeric_id_is_a_clear_error() -> None:
    with pytest.raises(FatalError, match="'abc' is not an amoCRM id"):
        mapping.deal_body(DealData(pipeline_id="abc"))


def test_read_contact_normalises_stored_phones() -> None:
    contact = mapping.to_contact(
        {
            "id": 1,
            "name": "Анна",
            "custom_fields_values": [
                {"field_code": "PHONE", "values": [{"value": "8 (916) 123-45-67"}]},
                {"field_code": "EMAIL", "values": [{"value": "Anna@Mail.RU"}]},
            ],
        }
    )
    assert contact.phones == ("+79161234567",)
    assert contact.emails == ("anna@mail.ru",)


@pytest.mark.parametrize(("status", "closed"), [(61000011, False), (142, True), (143, True)])
def test_won_and_lost_deals_are_closed(status: int, closed: bool) -> None:
    deal = mapping.to_deal({"id": 5, "name": "x", "pipeline_id": 7, "status_id": status})
    assert deal.closed is closed
