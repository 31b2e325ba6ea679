"""OAuth 2 against the emulator: code exchange, single-use refresh tokens, one refresh per 401."""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jivocrm.connectors.amocrm.contract_target import connect
from jivocrm.connectors.amocrm.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.http import recording
from jivocrm.core.errors import AuthError

OAUTH = {
    "client_id": "emulator-client",
    "client_secret": "emulator-secret",
    "redirect_uri": "https://example.com/oauth",
}
FAST = {"rate_limit": {"rate": 1000}, "retries": {"attempts": 1}}


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(rate_limit=0) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def oauth(**extra: str) -> dict[str, Any]:
    return {"auth": {"oauth": {**OAUTH, **extra}}, **FAST}


def token_calls(emulator: RunningEmulator) -> list[int | None]:
    return [r["status"] for r in emulator.state.requests if r["path"] == "/oauth2/access_token"]


def stored(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "tokens" / "amo.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def test_code_exchange_persists_the_pair(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    amo = connect(
        emulator, session, state_dir=tmp_path, **oauth(authorization_code="emulator-code")
    )
    with recording() as calls:
        assert len(await amo.list_users()) == 3
    tokens = stored(tmp_path)
    assert tokens["refresh_token"] == emulator.state.oauth["refresh_token"]
    assert tokens["expires_at"] > time.time()
    # What the journal keeps of the exchange carries neither the code nor the issued pair.
    exchange = json.dumps([c.as_dict() for c in calls.calls], ensure_ascii=False)
    assert "/oauth2/access_token" in exchange
    for secret in (
        "emulator-code",
        "emulator-secret",
        tokens["access_token"],
        tokens["refresh_token"],
    ):
        assert str(secret) not in exchange

    # A restart reads the stored pair: the single-use code is not sent again.
    again = connect(
        emulator, session, state_dir=tmp_path, **oauth(authorization_code="emulator-code")
    )
    assert len(await again.list_users()) == 3
    assert token_calls(emulator) == [200]


async def test_401_triggers_one_refresh_and_one_retry(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    amo = connect(
        emulator, session, state_dir=tmp_path, **oauth(refresh_token="emulator-refresh-0")
    )
    await amo.list_users()
    first = stored(tmp_path)
    emulator.state.expire_access_tokens()  # as after 24 hours

    assert len(await amo.find_contacts(phones=["+79161234567"])) == 1
    api = [r["status"] for r in emulator.state.requests if r["path"] == "/api/v4/contacts"]
    assert api == [401, 200]
    assert emulator.state.oauth_refreshes == 2  # the start from the config's token, then the 401
    newest = stored(tmp_path)
    assert newest["refresh_token"] != first["refresh_token"]
    assert newest["refresh_token"] == emulator.state.oauth["refresh_token"]


async def test_two_concurrent_401s_refresh_once(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    amo = connect(
        emulator, session, state_dir=tmp_path, **oauth(refresh_token="emulator-refresh-0")
    )
    await amo.list_users()
    emulator.state.expire_access_tokens()
    refreshes = emulator.state.oauth_refreshes
    # Latency makes both calls carry the dead token to the emulator before either refreshes.
    emulator.state.faults.update({"latency": 0.05})

    users, contacts = await asyncio.gather(
        amo.list_users(), amo.find_contacts(emails=["anna.smirnova@mail.ru"])
    )
    assert len(users) == 3
    assert len(contacts) == 1
    assert emulator.state.oauth_refreshes == refreshes + 1
    api = [r["status"] for r in emulator.state.requests if r["path"].startswith("/api/")]
    assert api.count(401) == 2
    assert stored(tmp_path)["refresh_token"] == emulator.state.oauth["refresh_token"]


async def test_a_reused_refresh_token_is_refused_with_advice(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    first = connect(
        emulator, session, state_dir=tmp_path / "a", **oauth(refresh_token="emulator-refresh-0")
    )
    await first.list_users()
    # Another installation starting from the same, now spent, refresh token.
    second = connect(
        emulator, session, state_dir=tmp_path / "b", **oauth(refresh_token="emulator-refresh-0")
    )
    with pytest.raises(AuthError, match=r"Token has been revoked.*re-authorize") as caught:
        await second.list_users()
    assert "emulator-refresh-0" not in str(caught.value)
    assert "emulator-secret" not in str(caught.value)


async def test_a_401_that_survives_the_refresh_is_not_retried_again(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    amo = connect(
        emulator, session, state_dir=tmp_path, **oauth(refresh_token="emulator-refresh-0")
    )
    await amo.list_users()
    refreshes = emulator.state.oauth_refreshes
    emulator.state.faults.update({"auth_failure": True})
    with pytest.raises(AuthError, match="token expired or revoked"):
        await amo.list_users()
    emulator.state.faults.update({"auth_failure": False})
    # auth_failure answers 401 everywhere, the token endpoint included: one try of each.
    api = [r["status"] for r in emulator.state.requests if r["path"] == "/api/v4/users"]
    assert api == [200, 401]
    assert token_calls(emulator)[-1] == 401
    assert emulator.state.oauth_refreshes == refreshes


async def test_expired_pair_is_refreshed_before_the_call(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    amo = connect(
        emulator, session, state_dir=tmp_path, **oauth(refresh_token="emulator-refresh-0")
    )
    await amo.list_users()
    path = tmp_path / "tokens" / "amo.json"
    tokens = json.loads(path.read_text())
    path.write_text(json.dumps({**tokens, "expires_at": time.time() - 1}))
    restarted = connect(
        emulator, session, state_dir=tmp_path, **oauth(refresh_token="emulator-refresh-0")
    )
    await restarted.list_users()
    api = [r["status"] for r in emulator.state.requests if r["path"].startswith("/api/")]
    assert 401 not in api
    assert token_calls(emulator) == [200, 200]


async def test_no_tokens_at_all_says_how_to_authorize(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    amo = connect(emulator, session, state_dir=tmp_path, **oauth())
    with pytest.raises(AuthError, match="authorization_code"):
        await amo.list_users()
    assert token_calls(emulator) == []


class MemoryStore:
    """A token store other than the file: what the SQL stores will provide."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}
        self.lock_entries = 0
        self._lock = asyncio.Lock()

    async def load(self, name: str) -> dict[str, Any] | None:
        return self.saved.get(name)

    async def save(self, name: str, tokens: dict[str, Any]) -> None:
        self.saved[name] = dict(tokens)

    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        async with self._lock:
            self.lock_entries += 1
            yield


async def test_a_given_token_store_is_used_instead_of_the_file(
    emulator: RunningEmulator, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = MemoryStore()
    amo = connect(
        emulator,
        session,
        state_dir=tmp_path,
        token_store=store,
        **oauth(authorization_code="emulator-code"),
    )
    await amo.list_users()
    assert store.saved["amo"]["refresh_token"] == emulator.state.oauth["refresh_token"]
    assert store.lock_entries == 1
    assert not (tmp_path / "tokens").exists()
