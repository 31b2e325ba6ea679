"""OAuth applications: tokens refreshed through the OAuth server, the newest pair persisted 0600,
one refresh for any number of callers that meet ``expired_token`` together."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jivocrm.connectors.bitrix24.client import Bitrix24Connector
from jivocrm.connectors.bitrix24.contract_target import connect
from jivocrm.connectors.bitrix24.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.http import recording
from jivocrm.connectors.tokens import MemoryTokenStore
from jivocrm.core.errors import AuthError

CLIENT_ID, SECRET, REFRESH, ACCESS = (
    "local.emulator",
    "emulator-secret",
    "emulator-refresh",
    "emulator-access",
)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(faults={"rate_limit": {"rate": 0}}) as running:
        yield running


def oauth_app(
    emulator: RunningEmulator, session: aiohttp.ClientSession, refresh: str = REFRESH, **ctx: Any
) -> Bitrix24Connector:
    config = {
        "type": "bitrix24",
        "oauth": {
            "portal": emulator.url,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "refresh_token": refresh,
            "oauth_server": emulator.url,
        },
        "rate_limit": {"rate": 1000, "burst": 1000},
        "retries": {"attempts": 1},
    }
    return connect(emulator, session, config, **ctx)


def live_refresh_tokens(emulator: RunningEmulator) -> list[str]:
    return list(emulator.state.refresh_tokens)


def token_file(state_dir: Path) -> Path:
    return state_dir / "tokens" / "b24.json"


async def test_first_call_refreshes_and_persists_0600(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    connector = oauth_app(emulator, session, state_dir=tmp_path)
    with recording() as calls:
        users = await connector.list_users()
    assert len(users) == 3
    assert len(emulator.calls("oauth.token")) == 1
    saved = json.loads(token_file(tmp_path).read_text())
    assert stat.S_IMODE(token_file(tmp_path).stat().st_mode) == 0o600
    # Refresh tokens rotate: the one we started from is dead, the saved one is the live one.
    assert live_refresh_tokens(emulator) == [saved["refresh_token"]]
    assert saved["access_token"] in emulator.state.tokens
    recorded = json.dumps([c.as_dict() for c in calls.calls])
    for secret in (SECRET, REFRESH, saved["access_token"], saved["refresh_token"]):
        assert secret not in recorded, "the journal must never hold a token"


async def test_two_callers_hit_expired_token_at_once(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = MemoryTokenStore()
    # The pair from an earlier run: we believe the access token has an hour left...
    store.saved["b24"] = {
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "expires_at": time.time() + 3600,
        "configured_refresh": REFRESH,
    }
    emulator.state.expire_tokens()  # ...but the portal says it expired.
    connector = oauth_app(emulator, session, token_store=store)

    first, second = await asyncio.gather(connector.list_users(), connector.list_users())

    assert len(first) == len(second) == 3
    expired = [r for r in emulator.state.requests if r["error"] == "expired_token"]
    assert len(expired) == 2, "both callers met the expired token"
    assert len(emulator.calls("oauth.token")) == 1, "exactly one refresh"
    assert store.saves == 1
    assert live_refresh_tokens(emulator) == [store.saved["b24"]["refresh_token"]]


async def test_two_callers_with_a_file_store(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    await oauth_app(emulator, session, state_dir=tmp_path).list_users()
    emulator.state.expire_tokens()
    # A new process: it starts from the persisted pair, not the config's dead refresh token.
    connector = oauth_app(emulator, session, state_dir=tmp_path)
    await asyncio.gather(*(connector.list_users() for _ in range(5)))
    assert len(emulator.calls("oauth.token")) == 2
    saved = json.loads(token_file(tmp_path).read_text())
    assert live_refresh_tokens(emulator) == [saved["refresh_token"]]
    assert stat.S_IMODE(token_file(tmp_path).stat().st_mode) == 0o600


async def test_used_refresh_token_says_authorise_again(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(AuthError) as caught:
        await oauth_app(emulator, session, refresh="already-used", state_dir=tmp_path).list_users()
    assert caught.value.code == "invalid_grant"
    assert "authorise the application again" in str(caught.value)
    assert "already-used" not in str(caught.value)
    assert not token_file(tmp_path).exists()


async def test_application_not_installed(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    connector = oauth_app(emulator, session, state_dir=tmp_path)
    await connector.list_users()
    emulator.state.apps[CLIENT_ID]["installed"] = False
    with pytest.raises(AuthError) as caught:
        await connector.list_users()
    assert caught.value.code == "ERROR_OAUTH"
    assert str(caught.value).endswith(
        "install the application in Bitrix24; if it is installed, remove and install it again"
    )


async def test_new_refresh_token_in_config_wins_over_the_saved_pair(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = MemoryTokenStore()
    store.saved["b24"] = {
        "access_token": "from-an-old-install",
        "refresh_token": "from-an-old-install",
        "expires_at": time.time() + 3600,
        "configured_refresh": "an-older-config-value",
    }
    await oauth_app(emulator, session, token_store=store).list_users()
    assert store.saved["b24"]["configured_refresh"] == REFRESH
    assert [r["status"] for r in emulator.state.requests] == [200, 200]
