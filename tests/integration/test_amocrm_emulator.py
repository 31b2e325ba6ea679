"""The emulator keeps amoCRM's documented quirks, so the connector is tested against them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jivocrm.connectors.amocrm.contract_target import ADMIN_TOKEN, connect
from jivocrm.connectors.amocrm.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.base import ContactData, DealData, UnsortedData
from jivocrm.core.errors import FatalError

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(rate_limit=0) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def call(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, str, bytes]:
    async with session.request(method, url, headers=AUTH, **kwargs) as resp:
        return resp.status, resp.content_type, await resp.read()


async def test_empty_search_is_204_with_no_body(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    status, _, body = await call(session, "GET", f"{emulator.url}/api/v4/contacts?query=nobody")
    assert (status, body) == (204, b"")


async def search(
    emulator: RunningEmulator, session: aiohttp.ClientSession, query: str
) -> list[int]:
    url = f"{emulator.url}/api/v4/contacts"
    async with session.get(url, params={"query": query}, headers=AUTH) as resp:
        if resp.status == 204:
            return []
        assert resp.status == 200
        assert resp.content_type == "application/hal+json"
        data = await resp.json(content_type=None)
    return [c["id"] for c in data["_embedded"]["contacts"]]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("9161234567", True),  # the national number is in every spelling
        ("+7 916 123-45-67", True),
        ("79161234567", True),  # the digits the seed's +7 916 123-45-67 is written with
        ("89161234567", False),  # to amoCRM 8… is another number than +7…
        ("anna.smirnova", True),
        ("СМИРНОВА", True),
    ],
)
async def test_search_matches_the_stored_text(
    emulator: RunningEmulator, session: aiohttp.ClientSession, query: str, found: bool
) -> None:
    assert await search(emulator, session, query) == ([31415926] if found else [])


async def test_search_by_national_number_finds_notes_too_the_connector_keeps_the_phone(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    """`query` hits any field holding the text: a contact whose job title mentions the digits
    comes back from the search, and the connector's duplicate check drops it."""
    state = emulator.state
    decoy = state.seed_contact(
        {
            "id": state.new_id(),
            "name": "Перезвонить на 9161234567",
            "custom_fields_values": [{"field_code": "POSITION", "values": [{"value": "менеджер"}]}],
        }
    )
    state.contacts[decoy["id"]] = decoy
    assert await search(emulator, session, "9161234567") == [31415926, decoy["id"]]
    connector = connect(emulator, session)
    assert await connector.find_contact_ids(phones=["+79161234567"]) == [("31415926", "phone")]


async def test_write_bodies_must_be_arrays(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    status, ctype, _ = await call(
        session, "POST", f"{emulator.url}/api/v4/contacts", json={"name": "Объект"}
    )
    assert (status, ctype) == (400, "application/problem+json")
    status, _, _ = await call(
        session, "POST", f"{emulator.url}/api/v4/contacts", json=[{"name": "x"}] * 251
    )
    assert status == 422


async def test_request_id_is_echoed_and_complex_answers_a_bare_array(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    body = [{"name": "A", "request_id": "jivo-1"}]
    async with session.post(f"{emulator.url}/api/v4/contacts", json=body, headers=AUTH) as resp:
        created = await resp.json(content_type=None)
    assert created["_embedded"]["contacts"][0]["request_id"] == "jivo-1"
    body = [{"name": "Сделка", "_embedded": {"contacts": [{"name": "B"}]}, "request_id": "r7"}]
    async with session.post(f"{emulator.url}/api/v4/leads/complex", json=body, headers=AUTH) as r:
        complex_ = await r.json(content_type=None)
    assert isinstance(complex_, list)
    assert complex_[0]["request_id"] == ["r7"]
    assert complex_[0]["merged"] is False


async def test_sliding_window_answers_429_with_retry_after(session: aiohttp.ClientSession) -> None:
    async with running_emulator() as emu:
        answers = [
            await call(session, "GET", f"{emu.url}/api/v4/leads/pipelines") for _ in range(9)
        ]
    statuses = [a[0] for a in answers]
    assert statuses[:7] == [200] * 7
    assert statuses[7:] == [429, 429]
    assert answers[7][1] == "application/problem+json"
    assert b'"retry_after": 1' in answers[7][2]


async def test_unsorted_contacts_stay_invisible(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    amo = connect(emulator, session, rate_limit={"rate": 1000})
    made = await amo.create_unsorted(
        UnsortedData(
            source_uid="s",
            source_name="Jivo",
            lead_name="Чат",
            contact=ContactData(name="Скрытый", phones=["+79260000001"]),
        )
    )
    assert made.extra["uid"]
    assert await amo.find_contacts(phones=["+79260000001"]) == []
    (entry,) = emulator.state.unsorted
    assert entry["request"]["metadata"]["form_name"] == "Jivo"


async def test_contact_search_pages_are_followed(session: aiohttp.ClientSession) -> None:
    async with running_emulator(rate_limit=0, page_size=3) as emu:
        amo = connect(emu, session, rate_limit={"rate": 1000})
        made = [
            await amo.create_contact(ContactData(name=f"Дубль {n}", emails=["same@example.org"]))
            for n in range(7)
        ]
        found = await amo.find_contacts(emails=["same@example.org"])
        pages = [
            r
            for r in emu.state.requests
            if r["path"] == "/api/v4/contacts" and "query" in r["query"]
        ]
    assert [c.id for c in found] == [m.id for m in made]
    assert len(pages) == 3


async def test_state_reset_and_seed_file(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "users: [{id: 1, name: Admin, email: admin@example.org, is_admin: true}]\n"
        "tokens: {long_lived: [{token: t0k3n-x, user_id: 1}]}\n"
        "pipelines: [{id: 10, name: P, is_main: true, statuses: [{id: 11, name: S}]}]\n",
        encoding="utf-8",
    )
    async with running_emulator(seed, rate_limit=0) as emu:
        amo = connect(emu, session, auth={"long_lived_token": "t0k3n-x"})
        await amo.create_contact(ContactData(name="X"))
        async with session.get(f"{emu.url}/_emulator/state") as resp:
            state = await resp.json()
        assert len(state["contacts"]) == 1
        assert [r["method"] for r in state["requests"]] == ["POST"]
        async with session.post(f"{emu.url}/_emulator/reset") as resp:
            assert resp.status == 200
        assert emu.state.contacts == {}
        meta = await amo.fetch_metadata()
    assert [s.kind for s in meta.pipelines[0].stages] == ["open", "won", "lost"]


async def test_a_missing_contact_or_deal_is_204_not_404(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    for path in ("/api/v4/contacts/1", "/api/v4/leads/1"):
        status, _, body = await call(session, "GET", f"{emulator.url}{path}")
        assert (status, body) == (204, b"")
    connector = connect(emulator, session)
    with pytest.raises(FatalError, match="amoCRM has no contact 1"):
        await connector.update_contact("1", ContactData(phones=["+79260000001"]))
    assert await connector.find_open_deals("1") == []


async def test_complex_keeps_the_company_and_limits_one_contact_per_lead(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    body = [
        {
            "name": "Опт для офиса",
            "_embedded": {"contacts": [{"name": "Иван"}], "companies": [{"name": "ООО «Ромашка»"}]},
        }
    ]
    url = f"{emulator.url}/api/v4/leads/complex"
    async with session.post(url, json=body, headers=AUTH) as resp:
        (made,) = await resp.json(content_type=None)
    assert made["company_id"]
    assert made["contact_id"]
    assert made["merged"] is False
    state = emulator.state.snapshot()
    (company,) = state["companies"]
    assert (company["id"], company["name"]) == (made["company_id"], "ООО «Ромашка»")
    (lead,) = [lead for lead in state["leads"] if lead["id"] == made["id"]]
    assert (lead["contacts"], lead["companies"]) == ([made["contact_id"]], [made["company_id"]])
    two = [{"name": "x", "_embedded": {"contacts": [{"name": "a"}, {"name": "b"}]}}]
    status, _, _ = await call(session, "POST", url, json=two)
    assert status == 400


async def test_duplicate_control_answers_merged_with_the_known_deal(
    session: aiohttp.ClientSession,
) -> None:
    async with running_emulator(rate_limit=0, duplicate_control=True) as emulator:
        connector = connect(emulator, session)
        made = await connector.create_deal_with_contact(
            DealData(name="Снова диван"), ContactData(name="Анна", phones=["+79161234567"])
        )
        # The seed's Анна (+7 916 123-45-67) has the open deal 27182818.
        assert (made.id, made.contact_id, made.extra) == ("27182818", "31415926", {"merged": True})
        fresh = await connector.create_deal_with_contact(
            DealData(name="Новый"), ContactData(name="Пётр", phones=["+79265550102"])
        )
        assert fresh.extra == {"merged": False}
        assert fresh.id not in ("27182818",)


async def test_a_select_field_takes_only_its_options(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.url}/api/v4/leads"
    field = {"field_id": 264950, "values": [{"value": "Сайт 9"}]}
    status, _, body = await call(session, "POST", url, json=[{"custom_fields_values": [field]}])
    assert status == 400
    assert b"NotSupportedChoice" in body
    field["values"] = [{"value": "Сайт 2"}]
    status, _, _ = await call(session, "POST", url, json=[{"custom_fields_values": [field]}])
    assert status == 200
