"""The RetailCRM connector over HTTP against its emulator: duplicate searches as strict as the real
ones, the store a write goes to, and every kind of refusal turned into a message that says what
to do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from jivocrm.connectors.base import ContactData, DealData
from jivocrm.connectors.retailcrm.contract_target import connect
from jivocrm.connectors.retailcrm.emulator import RunningEmulator, running_emulator
from jivocrm.core.errors import AuthError, FatalError, RetriableError
from jivocrm.core.phones import normalize_phone


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(rate_limit=0) as running:
        yield running


def seed_customer(emulator: RunningEmulator, phone: str, **fields: str) -> int:
    made = emulator.state.create_customer(
        {"firstName": "Клиент", **fields, "phones": [{"number": phone}]}, "shop"
    )
    return int(made["id"])


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("8 (916) 555-44-33", "+7 916 555-44-33"),
        ("+7 916 555 44 33", "8 (916) 555-44-33"),
        ("79165554433", "916-555-44-33"),
    ],
)
async def test_a_phone_stored_in_any_form_is_found_by_any_other(
    emulator: RunningEmulator, session: aiohttp.ClientSession, stored: str, asked: str
) -> None:
    customer = seed_customer(emulator, stored)
    phone = normalize_phone(asked)
    assert phone == "+79165554433"
    found = await connect(emulator, session).find_contacts(phones=[phone])
    assert [c.id for c in found] == [str(customer)]


async def test_the_emulator_matches_stored_text_so_a_full_number_misses_a_trunk_prefixed_one(
    emulator: RunningEmulator,
) -> None:
    # What makes the test above mean something: asked with all digits (country code too), a
    # number stored as "8 (916) …" is not found, as on a real account.
    seed_customer(emulator, "8 (916) 555-44-33")
    assert emulator.state.search_customers({"name": "79165554433"}) == []
    assert len(emulator.state.search_customers({"name": "9165554433"})) == 1


async def test_digits_in_a_name_are_not_a_phone_match(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    seed_customer(emulator, "+7 903 000-00-00", lastName="9165554433")
    assert await connect(emulator, session).find_contacts(phones=["+79165554433"]) == []


async def test_several_stores_without_site_say_which_to_set(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    retail = connect(emulator, session, site=None)
    with pytest.raises(FatalError, match="set `site:` on the connection"):
        await retail.create_contact(ContactData(name="Без магазина"))
    made = await retail.create_deal(DealData(name="Диван", pipeline_id="opt", contact_id="501"))
    assert emulator.state.find_order(made.id)["site"] == "opt"


async def test_a_wrong_key_and_a_key_without_access_are_told_apart(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    wrong = connect(emulator, session, api_key="no-such-key")
    with pytest.raises(AuthError, match="API access keys") as refused:
        await wrong.list_users()
    assert refused.value.code == "bad_key"
    reader = connect(emulator, session, api_key="emulator-read-only-key")
    with pytest.raises(AuthError) as denied:
        await reader.create_contact(ContactData(name="Нельзя"))
    assert denied.value.code == "access_denied"
    checks = {c.name: c for c in await reader.check()}
    assert not checks["rights"].ok
    assert "customer_write" in checks["rights"].detail


async def test_a_web_page_instead_of_the_api_means_no_account_there(
    session: aiohttp.ClientSession,
) -> None:
    async with running_emulator(html=True) as emulator:
        with pytest.raises(AuthError, match="there is no account there"):
            await connect(emulator, session).list_users()


async def test_the_keys_rate_limit_is_waited_out(session: aiohttp.ClientSession) -> None:
    async with running_emulator(rate_503=0.5, random_seed=3) as emulator:
        retail = connect(emulator, session, retries={"attempts": 10, "initial": 0.01})
        for _ in range(5):
            assert await retail.find_user("o.petrova@shop-example.ru") is not None
        statuses = [r["status"] for r in emulator.state.requests]
    assert 503 in statuses
    assert statuses.count(200) == 5


async def test_an_exhausted_rate_limit_is_retriable(session: aiohttp.ClientSession) -> None:
    async with running_emulator(status=503) as emulator:
        retail = connect(emulator, session, retries={"attempts": 1})
        with pytest.raises(RetriableError, match="over 10 requests/s"):
            await retail.list_users()


async def test_a_deal_note_goes_to_the_orders_customer_naming_the_order(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    retail = connect(emulator, session)
    await retail.add_note("deal", "7001", "Чат: перезвонить")
    (note,) = emulator.state.notes
    assert note["customer"] == {"id": 501}
    assert note["text"] == "Заказ 7001A: Чат: перезвонить"
