"""Every Bitrix24 error a user can meet, produced by the emulator over real HTTP: the message they
see, and whether jivocrm retries it. Nothing is mocked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jivocrm.connectors.base import DealData, TaskData
from jivocrm.connectors.bitrix24.client import Bitrix24Connector
from jivocrm.connectors.bitrix24.contract_target import connect, webhook_config
from jivocrm.connectors.bitrix24.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.bitrix24.errors import classify
from jivocrm.connectors.http import Response
from jivocrm.core.errors import AuthError, ConnectorError, FatalError, RetriableError

CODE = "goodcode1"
SEED = f"""
webhooks:
  - {{user_id: 1, code: {CODE}, scopes: [crm, user, task]}}
  - {{user_id: 1, code: blockedcode, scopes: [crm, user, task], blocked: true}}
  - {{user_id: 1, code: crmonlycode, scopes: [crm]}}
"""
QUICK = {"attempts": 3, "initial": 0.01, "max_delay": 0.02}


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[RunningEmulator]:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED, encoding="utf-8")
    async with running_emulator(seed, faults={"rate_limit": {"rate": 0}}) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def portal(
    emulator: RunningEmulator, session: aiohttp.ClientSession, code: str = CODE, **extra: Any
) -> Bitrix24Connector:
    extra.setdefault("retries", {"attempts": 1})
    return connect(emulator, session, webhook_config(emulator, code=code, **extra))


def shown(error: ConnectorError) -> str:
    text = str(error)
    for secret in (CODE, "blockedcode", "crmonlycode", "wrongcode"):
        assert secret not in text, "an error message must never show the webhook code"
    return text


async def test_wrong_webhook_code(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(AuthError) as caught:
        await portal(emulator, session, code="wrongcode", retries=QUICK).list_users()
    assert caught.value.code == "NO_AUTH_FOUND"
    assert "webhook code is wrong or the webhook was deleted: copy the webhook URL again" in shown(
        caught.value
    )
    assert len(emulator.calls("user.get")) == 1, "auth errors are not retried"


async def test_blocked_webhook(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
    with pytest.raises(AuthError) as caught:
        await portal(emulator, session, code="blockedcode").list_users()
    assert caught.value.status == 403
    assert caught.value.code == "INVALID_CREDENTIALS"
    assert "webhook is blocked" in shown(caught.value)


@pytest.mark.parametrize(("operation", "scope"), [("users", "user"), ("task", "task")])
async def test_missing_scope_names_the_scope(
    emulator: RunningEmulator, session: aiohttp.ClientSession, operation: str, scope: str
) -> None:
    connector = portal(emulator, session, code="crmonlycode")
    call = (
        connector.list_users()
        if operation == "users"
        else connector.create_task(TaskData(text="Перезвонить", due=_tomorrow()))
    )
    with pytest.raises(AuthError) as caught:
        await call
    assert caught.value.code == "insufficient_scope"
    assert f"needs the '{scope}' scope: add it in Bitrix24 → Developer resources" in shown(
        caught.value
    )
    rights = {r.name: r for r in await connector.check()}
    assert not rights["rights"].ok
    assert rights["rights"].detail.startswith("missing scope(s) user, task: add them in")


async def test_unknown_method(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
    with pytest.raises(FatalError) as caught:
        await portal(emulator, session).rest.result("crm.contact.ad", {"fields": {}})
    assert caught.value.status == 404
    assert "check that the webhook URL has the form https://<portal>/rest/<user id>/<code>/" in (
        shown(caught.value)
    )


async def test_malformed_webhook_url_reads_as_unknown_method(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    # The user id is missing from the path: Bitrix24 takes the code for a method name.
    async with session.post(f"{emulator.url}/rest/{CODE}/crm.contact.list", json={}) as resp:
        data = await resp.json()
        response = Response(resp.status, dict(resp.headers), b"", data)
    assert (resp.status, data["error"]) == (404, "ERROR_METHOD_NOT_FOUND")
    error = classify(response)
    assert isinstance(error, FatalError)
    assert "/rest/<user id>/<code>/" in str(error)


async def test_validation_error_shows_the_description(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    connector = portal(emulator, session)
    with pytest.raises(FatalError) as caught:
        await connector.create_deal(DealData(name="Не та стадия", stage_id="C3:NOPE"))
    assert caught.value.status == 400
    assert "crm.deal.add refused the data: Stage C3:NOPE does not belong to the funnel 3" in (
        shown(caught.value)
    )
    with pytest.raises(FatalError, match="Parameter 'fields' must be array"):
        await connector.rest.result("crm.contact.add", {"fields": "Анна"})


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("QUERY_LIMIT_EXCEEDED", 503, "leaky bucket"),
        ("OPERATION_TIME_LIMIT", 429, "execution-time budget"),
        ("INTERNAL_SERVER_ERROR", 500, "retrying later"),
        ("OVERLOAD_LIMIT", 503, "overload"),
    ],
)
async def test_retriable_errors_are_retried_then_reported(
    emulator: RunningEmulator, session: aiohttp.ClientSession, code: str, status: int, words: str
) -> None:
    emulator.configure(fail_with=code)
    with pytest.raises(RetriableError) as caught:
        await portal(emulator, session, retries=QUICK).list_users()
    assert (caught.value.status, caught.value.code) == (status, code)
    assert words in shown(caught.value)
    assert len(emulator.calls("user.get")) == QUICK["attempts"]


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        ("ACCESS_DENIED", AuthError, "REST API is available only on commercial plans"),
        ("method_confirm_waiting", AuthError, "administrator must confirm the method user.get"),
        ("invalid_token", AuthError, "access token is invalid"),
        ("PORTAL_DELETED", FatalError, "the portal was deleted"),
        ("INVALID_REQUEST", FatalError, "Https required"),
        ("ERROR_OAUTH", AuthError, "remove and install it again"),
    ],
)
async def test_errors_that_are_not_retried(
    emulator: RunningEmulator,
    session: aiohttp.ClientSession,
    code: str,
    kind: type[ConnectorError],
    words: str,
) -> None:
    emulator.configure(fail_with=code)
    with pytest.raises(kind) as caught:
        await portal(emulator, session, retries=QUICK).list_users()
    assert words in shown(caught.value)
    assert len(emulator.calls("user.get")) == 1


async def test_batch_errors(emulator: RunningEmulator, session: aiohttp.ClientSession) -> None:
    rest = portal(emulator, session).rest
    too_long = {"cmd": {f"c{i}": "profile" for i in range(51)}}
    with pytest.raises(FatalError, match="more than 50 commands"):
        await rest.result("batch", too_long)
    answer = await rest.batch(
        {
            "good": ("profile", {}),
            "nested": ("batch", {"cmd": {"a": "profile"}}),
            "invalid": ("crm.contact.add", {}),
            "task": ("tasks.task.add", {"fields": {"TITLE": "x"}}),
        }
    )
    assert answer.get("good")["ID"] == "1"
    assert isinstance(answer.errors["nested"], FatalError)
    assert "not allowed inside a batch" in str(answer.errors["nested"])
    assert isinstance(answer.errors["invalid"], FatalError)
    assert "crm.contact.add refused the data: Parameter 'fields' must be array" in str(
        answer.errors["invalid"]
    )
    assert "RESPONSIBLE_ID" in str(answer.errors["task"])
    with pytest.raises(FatalError):
        answer.get("invalid")


async def test_dropped_connections_and_timeouts_are_retriable(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.configure(drop_rate=1.0)
    with pytest.raises(RetriableError, match="cannot reach the CRM"):
        await portal(emulator, session, retries=QUICK).list_users()
    emulator.configure(drop_rate=0, timeout_rate=1.0)
    with pytest.raises(RetriableError, match=r"no answer within 0\.2 s"):
        await portal(emulator, session, timeout=0.2).list_users()


def _tomorrow() -> datetime:
    return datetime.now(UTC) + timedelta(days=1)
