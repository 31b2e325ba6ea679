"""What a user sees when amoCRM refuses, over real HTTP against the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from jivocrm.connectors.amocrm.contract_target import ADMIN_TOKEN, connect
from jivocrm.connectors.amocrm.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.base import ContactData, DealData
from jivocrm.core.errors import AuthError, ConnectorError, FatalError, RetriableError

ONE_TRY = {"retries": {"attempts": 1}, "rate_limit": {"rate": 1000}}


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(rate_limit=0) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def no_secret(error: ConnectorError) -> None:
    assert ADMIN_TOKEN not in str(error)
    assert "wrong-token" not in str(error)


async def test_wrong_token_is_an_auth_error(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    amo = connect(emulator, session, auth={"long_lived_token": "wrong-token"}, **ONE_TRY)
    with pytest.raises(AuthError, match="token expired or revoked") as caught:
        await amo.find_contacts(phones=["+79161234567"])
    assert caught.value.status == 401
    no_secret(caught.value)
    # A long-lived token cannot be refreshed: one call, no retry.
    assert [r["status"] for r in emulator.state.requests] == [401]


async def test_unpaid_account(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
    emulator.state.faults.update({"status": 402})
    amo = connect(emulator, session, **ONE_TRY)
    with pytest.raises(AuthError, match=r"not paid.*renew the subscription") as caught:
        await amo.list_users()
    assert not isinstance(caught.value, RetriableError)
    no_secret(caught.value)


async def test_non_admin_token_on_users(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    amo = connect(emulator, session, auth={"long_lived_token": "emulator-manager-token"}, **ONE_TRY)
    with pytest.raises(AuthError, match="not an administrator") as caught:
        await amo.find_user("o.petrova@shop-example.ru")
    assert caught.value.status == 403
    checks = {c.name: c for c in await amo.check()}
    assert checks["authenticated"].ok
    assert not checks["rights"].ok
    assert (
        "create the integration and its token as an account administrator"
        in checks["rights"].detail
    )


async def test_blocked_account(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
    emulator.state.faults.update({"status": 403})
    amo = connect(emulator, session, **ONE_TRY)
    with pytest.raises(AuthError, match="blocked after repeated 429"):
        await amo.find_contacts(emails=["a@b.ru"])


async def test_validation_errors_name_the_field(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    amo = connect(emulator, session, **ONE_TRY)
    with pytest.raises(
        FatalError, match=r"status_id: The value you selected is not a valid choice"
    ):
        await amo.create_deal(DealData(name="x", pipeline_id="7700002", stage_id="61000011"))
    with pytest.raises(FatalError, match=r"custom_fields_values\.0\.field_id: unknown field"):
        await amo.create_deal(DealData(name="x", custom={"999": "y"}))
    assert [r["status"] for r in emulator.state.requests] == [400, 400]  # fatal: never retried


async def test_unknown_contact_is_not_found(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    """amoCRM answers GET of a contact it does not have with 204 and no body: no open deals,
    and an update says the contact is gone instead of writing to nothing."""
    amo = connect(emulator, session, **ONE_TRY)
    assert await amo.find_open_deals("123") == []
    with pytest.raises(FatalError, match="amoCRM has no contact 123"):
        await amo.update_contact("123", ContactData(emails=["a@b.ru"]))
    with pytest.raises(FatalError, match="not found") as caught:
        await amo.update_contact("123", ContactData(name="Без телефона"))
    assert caught.value.status == 404


async def test_unprocessable(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
    emulator.state.faults.update({"status": 422})
    amo = connect(emulator, session, **ONE_TRY)
    with pytest.raises(FatalError, match="250"):
        await amo.find_contacts(emails=["a@b.ru"])


async def test_429_is_retriable_with_the_wait_hint(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.state.faults.update({"rate_429": 1.0, "retry_after": 0.1})
    amo = connect(emulator, session, **ONE_TRY)
    with pytest.raises(RetriableError, match="too many requests") as caught:
        await amo.find_contacts(emails=["a@b.ru"])
    assert caught.value.retry_after == pytest.approx(0.1)


async def test_server_error_is_retriable(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.state.faults.update({"error_rate": 1.0})
    amo = connect(emulator, session, **ONE_TRY)
    with pytest.raises(RetriableError, match="server error") as caught:
        await amo.find_contacts(emails=["a@b.ru"])
    assert caught.value.status == 500


async def test_no_answer_in_time_is_retriable(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.state.faults.update({"timeout_rate": 1.0, "hang": 5})
    amo = connect(emulator, session, timeout=0.2, **ONE_TRY)
    with pytest.raises(RetriableError, match=r"no answer within 0\.2 s"):
        await amo.find_contacts(emails=["a@b.ru"])


async def test_dropped_connection_is_retriable(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.state.faults.update({"drop_rate": 1.0})
    amo = connect(emulator, session, **ONE_TRY)
    with pytest.raises(RetriableError, match="cannot reach"):
        await amo.find_contacts(emails=["a@b.ru"])
    checks = {c.name: c for c in await amo.check()}
    assert not checks["reachable"].ok


async def test_check_names_the_failed_layer(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.state.faults.update({"auth_failure": True})
    amo = connect(emulator, session, **ONE_TRY)
    checks = {c.name: c for c in await amo.check()}
    assert checks["reachable"].ok
    assert not checks["authenticated"].ok
    assert "token expired or revoked" in checks["authenticated"].detail
    assert "rights" not in checks
