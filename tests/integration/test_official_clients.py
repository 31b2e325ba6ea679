"""The CRMs' own client libraries, unchanged, against our emulators: for the calls our connectors
make, an emulator that a vendor's client reads as the real API is one we have not invented.

RetailCRM's official Python client (``retailcrm``), Bitrix24's official SDK (``b24pysdk``) and a
public amoCRM v4 client (``aioamocrm``). They are an optional extra (``pip install -e
'.[clients]'``, part of ``.[dev]``); the runtime never imports them. The synchronous ones run in a
thread beside the emulator. Bitrix24's SDK speaks https only, so its emulator is served with a
certificate from a throwaway CA (trustme) that the SDK's ``requests`` is told to trust.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from jivocrm.connectors.amocrm.emulator import running_emulator as amo_emulator
from jivocrm.connectors.bitrix24.emulator import EMULATOR
from jivocrm.connectors.bitrix24.emulator import create_app as b24_app
from jivocrm.connectors.retailcrm.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.retailcrm.factory import EMULATOR_KEY

retailcrm = pytest.importorskip("retailcrm", reason="pip install -e '.[clients]'")
b24pysdk = pytest.importorskip("b24pysdk", reason="pip install -e '.[clients]'")
aioamocrm = pytest.importorskip("aioamocrm", reason="pip install -e '.[clients]'")
trustme = pytest.importorskip("trustme", reason="pip install -e '.[dev]'")

AMO_TOKEN = "emulator-admin-token"  # the amoCRM emulator's seeded admin token
B24_HOOK = "1/emulatorcode1"  # the Bitrix24 emulator's seeded incoming webhook


@pytest.fixture
async def retail() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(rate_limit=0) as emulator:
        yield emulator


def answer(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.get_response()
    assert response.is_successful(), body
    assert body["success"] is True
    return body


async def test_retailcrm_client_finds_creates_and_edits_customers(retail: RunningEmulator) -> None:
    client = retailcrm.v5(retail.url, EMULATOR_KEY)
    # The phone search our connector sends: the national number through the `name` filter.
    found = answer(await asyncio.to_thread(client.customers, {"name": "9161234567"}))
    assert [c["id"] for c in found["customers"]] == [501]
    assert found["pagination"]["totalCount"] == 1
    by_mail = answer(await asyncio.to_thread(client.customers, {"email": "ANNA.SMIRNOVA@mail.ru"}))
    assert [c["id"] for c in by_mail["customers"]] == [501]

    customer = {"firstName": "Пётр", "phones": [{"number": "+79265550102"}], "email": "p@x.ru"}
    made = await asyncio.to_thread(client.customer_create, customer, "shop")
    assert made.get_status_code() == 201
    new_id = answer(made)["id"]
    read = answer(await asyncio.to_thread(client.customer, new_id, "id", "shop"))
    assert read["customer"]["phones"] == [{"number": "+79265550102"}]

    edit = {"id": new_id, "lastName": "Новиков"}
    answer(await asyncio.to_thread(client.customer_edit, edit, "id", "shop"))
    assert retail.state.find_customer(new_id)["lastName"] == "Новиков"

    note = {"text": "Чат Jivo", "customer": {"id": new_id}}
    answer(await asyncio.to_thread(client.customer_note_create, note))
    notes = answer(await asyncio.to_thread(client.customer_notes, {"customerIds": [new_id]}))
    assert [n["text"] for n in notes["notes"]] == ["Чат Jivo"]


async def test_retailcrm_client_creates_and_reads_orders_and_tasks(
    retail: RunningEmulator,
) -> None:
    client = retailcrm.v5(retail.url, EMULATOR_KEY)
    order = {"customer": {"id": 501}, "status": "new", "items": [{"productName": "Диван"}]}
    made = answer(await asyncio.to_thread(client.order_create, order, "shop"))
    listed = answer(
        await asyncio.to_thread(client.orders, {"customerId": 501, "extendedStatus": ["new"]})
    )
    assert [o["id"] for o in listed["orders"]] == [made["id"]]
    answer(
        await asyncio.to_thread(
            client.order_edit, {"id": made["id"], "status": "complete"}, "id", "shop"
        )
    )
    read = answer(await asyncio.to_thread(client.order, made["id"], "id"))
    assert read["order"]["status"] == "complete"

    task = {
        "text": "Перезвонить",
        "datetime": "2026-12-02 10:00",
        "performerId": 11,
        "customer": {"id": 501},
    }
    assert answer(await asyncio.to_thread(client.task_create, task))["id"]


async def test_retailcrm_client_reads_reference_data_users_and_credentials(
    retail: RunningEmulator,
) -> None:
    client = retailcrm.v5(retail.url, EMULATOR_KEY)
    sites = answer(await asyncio.to_thread(client.sites))["sites"]
    assert sorted(sites) == ["opt", "shop"]
    statuses = answer(await asyncio.to_thread(client.statuses))["statuses"]
    assert statuses["complete"]["group"] == "complete"
    groups = answer(await asyncio.to_thread(client.status_groups))["statusGroups"]
    assert "cancel" in groups
    users = answer(await asyncio.to_thread(client.users, {"email": "o.petrova@shop-example.ru"}))
    assert [u["id"] for u in users["users"]] == [11]
    granted = answer(await asyncio.to_thread(client.api_credentials))
    assert "order_write" in granted["scopes"]
    assert granted["sitesAvailable"] == ["shop", "opt"]


async def test_retailcrm_client_reads_our_errors(retail: RunningEmulator) -> None:
    wrong = retailcrm.v5(retail.url, "not-a-key")
    refused = await asyncio.to_thread(wrong.customers)
    assert refused.get_status_code() == 403
    assert refused.get_error_msg() == 'Wrong "apiKey" value.'
    client = retailcrm.v5(retail.url, EMULATOR_KEY)
    bad = await asyncio.to_thread(client.customer_create, {"email": "not-an-address"}, "shop")
    assert bad.get_status_code() == 400
    assert "email" in json.dumps(bad.get_errors())
    no_site = await asyncio.to_thread(client.order_create, {"status": "new"})
    assert no_site.get_error_msg() == "Parameter 'site' is missing"


# ---- Bitrix24: the official SDK ------------------------------------------------------------------
@pytest.fixture
async def portal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, web.Application]]:
    """The Bitrix24 emulator over TLS; yields the SDK's domain (``127.0.0.1:PORT``) and the app."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    app = b24_app(None)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}", app
    finally:
        await runner.cleanup()


async def test_bitrix24_sdk_writes_and_finds_as_our_connector_does(
    portal: tuple[str, web.Application],
) -> None:
    domain, app = portal
    client = b24pysdk.Client(b24pysdk.BitrixWebhook(domain=domain, webhook_token=B24_HOOK))

    def calls() -> dict[str, Any]:
        phone = [{"VALUE": "+79265550102", "VALUE_TYPE": "WORK"}]
        contact = client.crm.contact.add(fields={"NAME": "Пётр", "PHONE": phone}).result
        return {
            "contact": contact,
            "duplicate": client.crm.duplicate.findbycomm(
                type="PHONE", values=["+79265550102"], entity_type="CONTACT"
            ).result,
            "deal": client.crm.deal.add(
                fields={"TITLE": "Чат Jivo", "CATEGORY_ID": 3, "CONTACT_IDS": [contact]}
            ).result,
            "user": client.user.get(filter={"EMAIL": "o.petrova@shop-example.ru"}).result,
            "stages": client.crm.status.list(filter={"ENTITY_ID": "DEAL_STAGE_3"}).result,
        }

    got = await asyncio.to_thread(calls)
    assert got["duplicate"] == {"CONTACT": [got["contact"]]}
    assert [u["EMAIL"] for u in got["user"]] == ["o.petrova@shop-example.ru"]
    assert {s["STATUS_ID"] for s in got["stages"]} >= {"C3:NEW", "C3:WON"}
    state = app[EMULATOR].state.snapshot()
    (deal,) = [d for d in state["deals"] if str(d["ID"]) == str(got["deal"])]
    assert deal["TITLE"] == "Чат Jivo"


async def test_bitrix24_sdk_batch_resolves_references_as_our_writes_rely_on(
    portal: tuple[str, web.Application],
) -> None:
    domain, app = portal
    client = b24pysdk.Client(b24pysdk.BitrixWebhook(domain=domain, webhook_token=B24_HOOK))

    def batch() -> Any:
        # Our connector writes a contact and its deal in one batch, the deal naming the
        # contact as $result[contact]: the SDK URL-encodes the commands, as Bitrix24 expects.
        return client.call_batch(
            {
                "contact": client.crm.contact.add(fields={"NAME": "Анна"}),
                "deal": client.crm.deal.add(
                    fields={"TITLE": "Из чата", "CONTACT_ID": "$result[contact]"}
                ),
            },
            halt=True,
        ).result

    result = await asyncio.to_thread(batch)
    assert not result.result_error
    state = app[EMULATOR].state.snapshot()
    (deal,) = [d for d in state["deals"] if d["TITLE"] == "Из чата"]
    (contact,) = [c for c in state["contacts"] if c["NAME"] == "Анна"]
    assert result.result == {"contact": contact["ID"], "deal": deal["ID"]}
    linked = deal.get("CONTACT_IDS") or [deal.get("CONTACT_ID")]
    assert str(contact["ID"]) in {str(i) for i in linked}


# ---- amoCRM: a public v4 client ------------------------------------------------------------------
async def test_amocrm_client_finds_creates_and_writes_as_our_connector_does() -> None:
    async with (
        amo_emulator(rate_limit=0) as emulator,
        aioamocrm.AmoCRMClient(
            base_url=emulator.url, auth=aioamocrm.LongLivedToken(AMO_TOKEN), rate_limit=None
        ) as amo,
    ):
        # The search our connector sends: the national number, matched as stored text.
        found = await amo.contacts.get_page(query="9161234567")
        assert [c.id for c in found.items] == [31415926]
        missing = await amo.contacts.get_page(query="79265550102")  # 204: nothing found
        assert list(missing.items) == []
        (made,) = await amo.leads.create_complex(
            [{"name": "Чат Jivo", "_embedded": {"contacts": [{"name": "Пётр"}]}}]
        )
        assert made.contact_id
        lead = await amo.leads.get(made.id, with_=["contacts"])
        assert lead.name == "Чат Jivo"
        await amo.leads.notes.create([aioamocrm.Note.common(made.id, "Чат: хочу диван")])
        pipelines = await amo.pipelines.list()
        assert {p.name for p in pipelines} >= {"Продажи"}
        users = [u async for u in amo.users.iterate()]
        assert "o.petrova@shop-example.ru" in {u.email for u in users}
    texts = [n["params"]["text"] for n in emulator.state.snapshot()["notes"]]
    assert "Чат: хочу диван" in texts
