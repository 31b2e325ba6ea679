"""The Bitrix24 emulator answers as the documentation says Bitrix24 does, quirks included.
Raw HTTP here, so the shapes are checked as a client sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from jivocrm.connectors.bitrix24.emulator import RunningEmulator, running_emulator

HOOK = "/rest/1/emulatorcode1"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(page_size=2, faults={"rate_limit": {"rate": 0}}) as running:
        yield running


async def post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    async with session.post(url, json=body or {}) as resp:
        return resp.status, await resp.json()


async def test_success_carries_time_and_lists_page(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    status, first = await post(session, f"{emulator.url}{HOOK}/user.get.json")
    assert status == 200
    assert {"start", "finish", "duration", "processing", "date_start", "date_finish"} <= set(
        first["time"]
    )
    assert (len(first["result"]), first["total"], first["next"]) == (2, 3, 2)
    _, second = await post(session, f"{emulator.url}{HOOK}/user.get", {"start": first["next"]})
    assert (len(second["result"]), second["total"]) == (1, 3)
    assert "next" not in second


async def test_findbycomm_compares_numbers_as_written_and_answers_empty_list(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    """The docs: the number is compared as a whole, only an extension ignored; the same number
    in another format is no duplicate. Nothing found is [] (PHP's empty array)."""
    _, made = await post(
        session,
        f"{emulator.url}{HOOK}/crm.contact.add",
        {"fields": {"NAME": "Анна", "PHONE": [{"VALUE": "8 (916) 123-45-67 доб. 12"}]}},
    )
    url = f"{emulator.url}{HOOK}/crm.duplicate.findbycomm"
    _, found = await post(session, url, {"type": "PHONE", "values": ["8 (916) 123-45-67"]})
    assert found["result"] == {"CONTACT": [made["result"]]}
    for other in ("+7 916 123-45-67", "79161234567", "+79161234567"):
        _, missed = await post(session, url, {"type": "PHONE", "values": [other]})
        assert missed["result"] == [], other
    _, nothing = await post(session, url, {"type": "EMAIL", "values": ["no@example.org"]})
    assert nothing["result"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"values": ["1"]}, "Communication type is not defined"),
        (
            {"type": "FAX", "values": ["1"]},
            "Communication type 'FAX' is not supported in current context",
        ),
        ({"type": "PHONE", "values": "+79161234567"}, "Communication values is not defined"),
    ],
)
async def test_findbycomm_errors_carry_the_documented_codes(
    emulator: RunningEmulator, session: aiohttp.ClientSession, body: dict[str, Any], code: str
) -> None:
    status, answer = await post(session, f"{emulator.url}{HOOK}/crm.duplicate.findbycomm", body)
    assert (status, answer["error"]) == (400, code)
    assert answer["error_description"]


async def test_contact_list_filters_multiple_fields_by_exact_value(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    """The docs' own example: filter by EMAIL, select EMAIL, get the contact with its items."""
    fields = {
        "NAME": "Особый",
        "EMAIL": [{"VALUE": "special-for@example.com", "VALUE_TYPE": "WORK"}],
        "PHONE": [{"VALUE": "+7 916 000-00-01"}],
    }
    _, made = await post(session, f"{emulator.url}{HOOK}/crm.contact.add", {"fields": fields})
    url = f"{emulator.url}{HOOK}/crm.contact.list"
    query = {"filter": {"EMAIL": "special-for@example.com"}, "select": ["ID", "EMAIL"]}
    _, listed = await post(session, url, query)
    assert [c["ID"] for c in listed["result"]] == [str(made["result"])]
    item = listed["result"][0]["EMAIL"][0]
    assert (item["VALUE"], item["VALUE_TYPE"], item["TYPE_ID"]) == (
        "special-for@example.com",
        "WORK",
        "EMAIL",
    )
    _, by_phone = await post(session, url, {"filter": {"PHONE": "+7 916 000-00-01"}})
    assert [c["ID"] for c in by_phone["result"]] == [str(made["result"])]
    _, no_like = await post(session, url, {"filter": {"PHONE": "916 000"}})
    assert no_like["result"] == []


async def test_batch_references_and_empty_result_error(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    cmd = {
        "contact": "crm.contact.add?fields[NAME]=%D0%98%D0%B2%D0%B0%D0%BD",
        "deal": "crm.deal.add?fields[TITLE]=D&fields[CONTACT_IDS][0]=$result[contact]",
        "get": "crm.deal.get?id=$result[deal]",
        "users": "user.get",
    }
    status, body = await post(session, f"{emulator.url}{HOOK}/batch", {"halt": 0, "cmd": cmd})
    assert status == 200
    answer = body["result"]
    assert answer["result_error"] == []
    got = answer["result"]["get"]
    # The docs: crm.deal.get carries the (deprecated) primary CONTACT_ID, not the contact list.
    assert got["CONTACT_ID"] == str(answer["result"]["contact"])
    assert "CONTACT_IDS" not in got
    assert answer["result_total"] == {"users": 3}
    assert answer["result_next"] == {"users": 2}
    assert set(answer["result_time"]) == set(cmd)


async def test_auth_answers(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
    status, body = await post(session, f"{emulator.url}/rest/1/wrongcode/profile")
    assert (status, body["error"]) == (401, "NO_AUTH_FOUND")
    status, body = await post(session, f"{emulator.url}{HOOK}/crm.nothing.here")
    assert (status, body["error"]) == (404, "ERROR_METHOD_NOT_FOUND")
    status, body = await post(session, f"{emulator.url}/rest/profile?auth=emulator-access")
    assert (status, body["result"]["ID"]) == (200, "1")
    async with session.post(f"{emulator.url}/_emulator/expire_tokens"):
        pass
    status, body = await post(session, f"{emulator.url}/rest/profile", {"auth": "emulator-access"})
    assert (status, body["error"]) == (401, "expired_token")


async def test_leaky_bucket_answers_503(session: aiohttp.ClientSession) -> None:
    async with running_emulator(faults={"rate_limit": {"rate": 1, "burst": 3}}) as emulator:
        statuses = [(await post(session, f"{emulator.url}{HOOK}/profile"))[0] for _ in range(5)]
        assert statuses[:3] == [200, 200, 200]
        assert 503 in statuses[3:]
        _, body = await post(session, f"{emulator.url}{HOOK}/profile")
        assert body == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}


async def test_faults_state_and_reset_endpoints(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    async with session.post(f"{emulator.url}/_emulator/faults", json={"error_rate": 1}) as resp:
        assert resp.status == 200
    status, body = await post(session, f"{emulator.url}{HOOK}/profile")
    assert (status, body["error"]) == (500, "INTERNAL_SERVER_ERROR")
    async with session.post(f"{emulator.url}/_emulator/faults", json={"nonsense": 1}) as resp:
        assert resp.status == 400
    async with session.post(
        f"{emulator.url}/_emulator/faults", json={"error_rate": 0, "auth_failure": True}
    ) as resp:
        assert resp.status == 200
    status, body = await post(session, f"{emulator.url}{HOOK}/profile")
    assert (status, body["error"]) == (401, "NO_AUTH_FOUND")
    emulator.configure(auth_failure=None)
    await post(session, f"{emulator.url}{HOOK}/crm.contact.add", {"fields": {"NAME": "X"}})

    async with session.get(f"{emulator.url}/_emulator/state") as resp:
        state = await resp.json()
    assert [c["NAME"] for c in state["contacts"]] == ["X"]
    assert [r["method"] for r in state["requests"]] == ["profile", "profile", "crm.contact.add"]
    assert all(h["code"] == "***" for h in state["webhooks"])

    async with session.post(f"{emulator.url}/_emulator/reset") as resp:
        assert resp.status == 200
    async with session.get(f"{emulator.url}/_emulator/state") as resp:
        state = await resp.json()
    assert (state["contacts"], state["requests"]) == ([], [])


async def test_oauth_refresh_rotates_tokens(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    params = {
        "grant_type": "refresh_token",
        "client_id": "local.emulator",
        "client_secret": "emulator-secret",
        "refresh_token": "emulator-refresh",
    }
    async with session.get(f"{emulator.url}/oauth/token/", params=params) as resp:
        fresh = await resp.json()
    assert fresh["client_endpoint"] == f"{emulator.url}/rest/"
    assert fresh["expires_in"] == 3600
    async with session.get(f"{emulator.url}/oauth/token/", params=params) as resp:
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_grant")
    wrong = {**params, "client_secret": "nope", "refresh_token": fresh["refresh_token"]}
    async with session.get(f"{emulator.url}/oauth/token/", params=wrong) as resp:
        assert (resp.status, (await resp.json())["error"]) == (401, "invalid_client")


async def test_status_list_answers_as_documented(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.url}{HOOK}/crm.status.list"
    _, everything = await post(session, url)
    books = {row["ENTITY_ID"] for row in everything["result"]}
    assert {"STATUS", "SOURCE", "DEAL_STAGE", "DEAL_STAGE_3"} <= books
    assert everything["total"] == len(everything["result"])  # no paging: no `start` here
    assert "next" not in everything
    _, stages = await post(session, url, {"filter": {"ENTITY_ID": "DEAL_STAGE"}})
    by_id = {row["STATUS_ID"]: row for row in stages["result"]}
    new, won, apology = by_id["NEW"], by_id["WON"], by_id["APOLOGY"]
    assert (new["SYSTEM"], new["SEMANTICS"], new["CATEGORY_ID"], new["SORT"]) == (
        "Y",
        None,
        None,
        "10",
    )
    assert (won["SEMANTICS"], won["EXTRA"]["SEMANTICS"]) == ("S", "success")
    assert (apology["SEMANTICS"], apology["EXTRA"]["SEMANTICS"]) == ("F", "apology")
    assert (apology["SYSTEM"], apology["NAME_INIT"]) == ("N", "")
    assert all(isinstance(row["ID"], str) for row in stages["result"])
    _, sources = await post(session, url, {"filter": {"ENTITY_ID": "SOURCE"}})
    assert {"WEB", "CALL", "CALLBACK", "CRM_FORM", "SELF", "OTHER"} <= {
        row["STATUS_ID"] for row in sources["result"]
    }
    status, bad = await post(session, url, {"filter": "DEAL_STAGE"})
    assert (status, bad["error"]) == (400, "Invalid parameters.")


async def test_timeline_comment_errors_carry_their_codes(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.url}{HOOK}/crm.timeline.comment.add"
    status, missing = await post(session, url, {"fields": {"ENTITY_TYPE": "deal"}})
    assert (status, missing["error"]) == (400, "100")
    fields = {"ENTITY_TYPE": "deal", "ENTITY_ID": 999999, "COMMENT": "x"}
    status, gone = await post(session, url, {"fields": fields})
    assert (status, gone["error"]) == (400, "NOT_FOUND")


async def test_item_list_refuses_an_unknown_filter_field(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.url}{HOOK}/crm.item.list"
    status, refused = await post(session, url, {"entityTypeId": 2, "filter": {"surprise": 1}})
    assert (status, refused["error"]) == (400, "INVALID_ARG_VALUE")
    assert "'surprise' is not allowed in filter" in refused["error_description"]
    status, unknown = await post(session, url, {"entityTypeId": 777})
    assert (status, unknown["error"]) == (400, "NOT_FOUND")
