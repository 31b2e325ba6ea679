"""The CRMs' own client libraries, unchanged, against our emulators: for the calls our connectors
make, an emulator that a vendor's client reads as the real API is one we have not invented.

The clients are an optional extra (``pip install -e '.[clients]'``, part of ``.[dev]``); the
runtime never imports them. They are synchronous, so they run in a thread beside the emulator.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jivocrm.connectors.retailcrm.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.retailcrm.factory import EMULATOR_KEY

retailcrm = pytest.importorskip("retailcrm", reason="pip install -e '.[clients]'")


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
