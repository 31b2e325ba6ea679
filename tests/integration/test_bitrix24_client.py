"""The Bitrix24 connector's own promises beyond the shared contract: how many requests it spends,
what it writes into the portal, and how it is built from a connection entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from jivocrm.connectors.base import ContactData, DealData, LeadData, TaskData
from jivocrm.connectors.bitrix24 import SPEC
from jivocrm.connectors.bitrix24.client import Bitrix24Connector
from jivocrm.connectors.bitrix24.contract_target import CONTRACT_SEED, connect, webhook_config
from jivocrm.connectors.bitrix24.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.spec import ConnectionContext
from jivocrm.core.errors import FatalError


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(CONTRACT_SEED, faults={"rate_limit": {"rate": 0}}) as running:
        yield running


@pytest.fixture
def b24(emulator: RunningEmulator, session: aiohttp.ClientSession) -> Bitrix24Connector:
    fast = {"rate_limit": {"rate": 1000, "burst": 1000}}
    return connect(emulator, session, webhook_config(emulator, **fast))


async def test_deal_with_contact_is_one_request(
    emulator: RunningEmulator, b24: Bitrix24Connector
) -> None:
    made = await b24.create_deal_with_contact(
        DealData(name="Из чата", stage_id="C3:PREPARATION", price=15000),
        ContactData(name="Ирина", phones=["+7 926 000-11-22"], emails=["Irina@Example.org"]),
    )
    assert [r["method"] for r in emulator.state.requests] == ["batch"]
    deal = emulator.state.entities["deal"][int(made.id)]
    contact = emulator.state.entities["contact"][int(made.contact_id or 0)]
    assert deal["CONTACT_IDS"] == [contact["ID"]]
    assert (deal["CATEGORY_ID"], deal["STAGE_ID"]) == (3, "C3:PREPARATION")
    assert [p["VALUE"] for p in contact["PHONE"]] == ["+79260001122"]
    assert [e["VALUE"] for e in contact["EMAIL"]] == ["irina@example.org"]


async def test_phone_and_email_search_is_one_request(
    emulator: RunningEmulator, b24: Bitrix24Connector
) -> None:
    found = await b24.find_contacts(phones=["+79161234567"], emails=["nobody@example.org"])
    assert [c.id for c in found] == ["501"]
    # One batch of both searches, then one read of the contacts found.
    assert [r["method"] for r in emulator.state.requests] == ["batch", "crm.contact.list"]


async def test_nothing_found_costs_one_request(
    emulator: RunningEmulator, b24: Bitrix24Connector
) -> None:
    assert await b24.find_contacts(phones=["+79260000000"], emails=["none@example.org"]) == []
    assert [r["method"] for r in emulator.state.requests] == ["batch"]


async def test_update_contact_adds_only_new_multifield_values(
    emulator: RunningEmulator, b24: Bitrix24Connector
) -> None:
    await b24.update_contact(
        "501", ContactData(phones=["8 (916) 123-45-67", "+79035556677"], emails=[])
    )
    phones = [p["VALUE"] for p in emulator.state.entities["contact"][501]["PHONE"]]
    assert phones == ["+7 (916) 123-45-67", "+79035556677"]


async def test_lead_task_and_comment_land_in_the_portal(
    emulator: RunningEmulator, b24: Bitrix24Connector
) -> None:
    lead = await b24.create_lead(
        LeadData(title="Лид из чата", name="Пётр", phones=["89161112233"], source_id="WEB")
    )
    stored = emulator.state.entities["lead"][int(lead.id)]
    assert (stored["TITLE"], stored["STATUS_ID"], stored["SOURCE_ID"]) == (
        "Лид из чата",
        "NEW",
        "WEB",
    )
    assert stored["PHONE"][0]["VALUE"] == "+79161112233"

    due = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
    task = await b24.create_task(
        TaskData(text="Перезвонить\nпро диван", due=due, entity_kind="lead", entity_id=lead.id)
    )
    saved = emulator.state.tasks[int(task.id)]
    assert saved["title"] == "Перезвонить"
    assert saved["deadline"] == "2026-01-15T18:00:00+00:00"
    assert saved["ufCrmTask"] == [f"L_{lead.id}"]
    assert saved["responsibleId"] == "1", "the webhook's user when the step names nobody"

    note = await b24.add_note("lead", lead.id, "Клиент спросил про доставку")
    comment = emulator.state.comments[int(note.id)]
    assert (comment["ENTITY_TYPE"], comment["ENTITY_ID"]) == ("lead", int(lead.id))


async def test_stage_without_funnel_prefix_gets_one(
    emulator: RunningEmulator, b24: Bitrix24Connector
) -> None:
    made = await b24.create_deal(DealData(name="Сделка", pipeline_id="3", stage_id="NEW"))
    assert emulator.state.entities["deal"][int(made.id)]["STAGE_ID"] == "C3:NEW"


def test_entity_url_uses_the_portal_not_the_emulator(session: aiohttp.ClientSession) -> None:
    ctx = ConnectionContext(name="b24", session=session, emulator_url="http://127.0.0.1:9")
    connector = SPEC.build({"webhook_url": "https://myshop.bitrix24.ru/rest/1/abc123/"}, ctx)
    assert connector.entity_url("deal", "10") == "https://myshop.bitrix24.ru/crm/deal/details/10/"
    assert connector.entity_url("contact", "7") == (
        "https://myshop.bitrix24.ru/crm/contact/details/7/"
    )


async def test_emulator_url_replaces_the_portal(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    ctx = ConnectionContext(name="b24", session=session, emulator_url=emulator.url)
    real_looking = {"webhook_url": "https://myshop.bitrix24.ru/rest/1/emulatorcode1/"}
    assert len(await SPEC.build(real_looking, ctx).list_users()) == 3
    alone = SPEC.build({"emulate": True}, ctx)
    assert [r.ok for r in await alone.check()] == [True, True, True]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"webhook_url": "myshop.bitrix24.ru/rest/1/abc/"}, "add https://"),
        ({"webhook_url": "http://myshop.bitrix24.ru/rest/1/abc/"}, "https required"),
        ({"webhook_url": "https://myshop.bitrix24.ru/rest/abc/"}, "must have the form"),
        ({}, "give `webhook_url`"),
    ],
)
def test_build_refuses_a_bad_entry(
    session: aiohttp.ClientSession, config: dict[str, str], words: str
) -> None:
    with pytest.raises(FatalError, match=words):
        SPEC.build(config, ConnectionContext(name="b24", session=session))


async def test_check_over_a_dead_port_is_unreachable(session: aiohttp.ClientSession) -> None:
    ctx = ConnectionContext(name="b24", session=session)
    config = {"webhook_url": "http://127.0.0.1:9/rest/1/abc/", "retries": {"attempts": 1}}
    (result,) = await SPEC.build(config, ctx).check()
    assert (result.name, result.ok) == ("reachable", False)
    assert "cannot reach" in result.detail


async def test_custom_fields_and_lists_past_one_page(
    session: aiohttp.ClientSession,
) -> None:
    async with running_emulator(page_size=2, faults={"rate_limit": {"rate": 0}}) as emulator:
        b24 = connect(emulator, session)
        email = "same@example.org"
        made = [
            await b24.create_contact(ContactData(name=f"N{i}", emails=[email])) for i in range(5)
        ]
        found = await b24.find_contacts(emails=[email])
        assert [c.id for c in found] == [m.id for m in made]
        meta = await b24.fetch_metadata()
        channel = next(f for f in meta.custom_fields if f.code == "UF_CRM_CHANNEL")
        assert (channel.name, channel.entity, channel.enums) == (
            "Канал",
            "deal",
            (("41", "Сайт 1"), ("42", "Сайт 2")),
        )
        await b24.create_deal(
            DealData(name="x", custom={"UF_CRM_CHANNEL": "41"}, extra={"COMMENTS": "c"})
        )
        (deal,) = emulator.state.entities["deal"].values()
        assert (deal["UF_CRM_CHANNEL"], deal["COMMENTS"]) == ("41", "c")


async def test_a_deal_whose_contact_is_secondary_behaves_as_on_a_portal(
    emulator: RunningEmulator, b24: Bitrix24Connector, session: aiohttp.ClientSession
) -> None:
    """A deal linked to Анна (primary) and Борис: crm.deal.list by CONTACT_ID finds it for Анна
    only, as a real portal does; the connector finds it for both, through crm.item.list."""
    state = emulator.state
    anna = state.store("contact", {"NAME": "Анна"})
    boris = state.store("contact", {"NAME": "Борис"})
    deal = state.store(
        "deal",
        {"TITLE": "Общая", "CATEGORY_ID": 3, "STAGE_ID": "C3:NEW", "CONTACT_IDS": [anna, boris]},
    )
    legacy = await b24.rest.result("crm.deal.list", {"filter": {"CONTACT_ID": boris}})
    assert legacy == []
    assert [
        d["ID"] for d in await b24.rest.result("crm.deal.list", {"filter": {"CONTACT_ID": anna}})
    ] == [str(deal)]
    bindings = await b24.rest.result("crm.deal.contact.items.get", {"id": deal})
    assert [(b["CONTACT_ID"], b["IS_PRIMARY"]) for b in bindings] == [(anna, "Y"), (boris, "N")]
    for contact in (anna, boris):
        found = await b24.find_open_deals(str(contact))
        assert [(d.id, d.pipeline_id, d.stage_id) for d in found] == [(str(deal), "3", "C3:NEW")]
    assert await b24.find_open_deals(str(boris), "0") == []
    state.entities["deal"][deal]["STAGE_ID"] = "C3:WON"
    assert await b24.find_open_deals(str(boris)) == []


async def test_a_portal_refusing_the_item_filter_gets_the_primary_contact_lookup(
    session: aiohttp.ClientSession,
) -> None:
    async with running_emulator(
        CONTRACT_SEED, faults={"rate_limit": {"rate": 0}, "item_contact_filter": False}
    ) as emulator:
        b24 = connect(emulator, session, webhook_config(emulator))
        state = emulator.state
        anna = state.store("contact", {"NAME": "Анна"})
        deal = state.store(
            "deal", {"TITLE": "Своя", "CATEGORY_ID": 0, "STAGE_ID": "NEW", "CONTACT_IDS": [anna]}
        )
        assert [d.id for d in await b24.find_open_deals(str(anna))] == [str(deal)]
        methods = [r["method"] for r in state.requests]
        assert methods == ["crm.item.list", "crm.deal.list"]
        assert state.requests[0]["error"] == "INVALID_ARG_VALUE"


async def test_deal_tags_are_refused_with_what_to_use_instead(
    emulator: RunningEmulator, b24: Bitrix24Connector
) -> None:
    with pytest.raises(FatalError, match=r"Bitrix24 deals have no tags.*SOURCE_DESCRIPTION"):
        await b24.create_deal(DealData(name="С тегом", tags=["Jivo"]))
    assert emulator.state.requests == []


async def test_lead_fields_are_in_the_metadata_and_a_lead_writes_them(
    session: aiohttp.ClientSession,
) -> None:
    async with running_emulator(faults={"rate_limit": {"rate": 0}}) as portal:
        b24 = connect(portal, session, webhook_config(portal))
        meta = await b24.fetch_metadata()
        assert ("lead", "UF_CRM_SOURCE", "Источник") in {
            (f.entity, f.id, f.name) for f in meta.custom_fields
        }
        made = await b24.create_lead(LeadData(title="Лид", custom={"UF_CRM_SOURCE": "Jivo"}))
        assert portal.state.entities["lead"][int(made.id)]["UF_CRM_SOURCE"] == "Jivo"
