"""amoCRM authentication: a long-lived token, or OAuth 2 with single-use refresh tokens.

amoCRM refresh tokens are single-use and the rule is global: once a refresh token is exchanged,
every other holder of it is locked out. So the newest pair is persisted (``TokenStore``) and every
refresh happens under the store's lock, after re-reading what the store holds: a caller that
waited for the lock finds a pair newer than the token the CRM rejected and uses it instead of
refreshing again.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import structlog

from jivocrm.connectors.amocrm import errors
from jivocrm.connectors.http import Transport
from jivocrm.connectors.tokens import TokenStore

log = structlog.get_logger("jivocrm.amocrm")

# Refresh this long before the access token's stated expiry, so a call never carries a token
# that dies in flight.
EXPIRY_MARGIN = 60.0


class Auth(ABC):
    @abstractmethod
    async def token(self) -> str:
        """The access token to send now."""

    @abstractmethod
    async def refresh_after_401(self, rejected: str) -> bool:
        """The CRM rejected ``rejected``; True when a different token is now available."""

    @abstractmethod
    def secrets(self) -> list[str]:
        """Every secret value, for redaction."""


class LongLivedToken(Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    async def refresh_after_401(self, rejected: str) -> bool:
        return False  # a long-lived token cannot be refreshed; the 401 message says what to do

    def secrets(self) -> list[str]:
        return [self._token]


class OAuth2(Auth):
    def __init__(
        self,
        *,
        name: str,
        config: Mapping[str, Any],
        store: TokenStore,
        transport: Transport,
        token_url: str,
    ) -> None:
        self.name = name
        self.config = config
        self.store = store
        self.transport = transport
        self.token_url = token_url
        self.refreshes = 0
        self._tokens: dict[str, Any] | None = None
        self._issued: list[str] = []
        # The config's code or refresh token, hashed: when the user puts a new one in the config
        # (re-authorization), it replaces the stored pair.
        seed = config.get("authorization_code") or config.get("refresh_token") or ""
        self._origin = hashlib.sha256(str(seed).encode()).hexdigest() if seed else None

    def secrets(self) -> list[str]:
        values = [
            self.config.get("client_secret"),
            self.config.get("refresh_token"),
            self.config.get("authorization_code"),
        ]
        if self._tokens:
            values += [self._tokens.get("access_token"), self._tokens.get("refresh_token")]
        return [str(v) for v in [*values, *self._issued] if v]

    def note_issued(self, answer: Any) -> None:
        """Remember tokens an answer of the token endpoint carries, before anything records it.

        The transport records the call (for the journal) before ``_obtain`` sees the answer; it
        asks for secrets again after classifying, which is when this has run.
        """
        if isinstance(answer, dict):
            fresh = [str(answer[k]) for k in ("access_token", "refresh_token") if answer.get(k)]
            self._issued = [*self._issued, *fresh][-8:]

    async def token(self) -> str:
        tokens = self._tokens
        if tokens is None or _expiring(tokens):
            async with self.store.lock(self.name):
                tokens = await self._current()
                if _expiring(tokens):
                    tokens = await self._refresh(tokens)
        return str(tokens["access_token"])

    async def refresh_after_401(self, rejected: str) -> bool:
        async with self.store.lock(self.name):
            tokens = await self._current()
            if tokens["access_token"] == rejected:
                tokens = await self._refresh(tokens)
            # else: another caller refreshed while this one waited for the lock
        return True

    async def _current(self) -> dict[str, Any]:
        """The newest pair: the store's, or one obtained from the config."""
        stored = await self.store.load(self.name)
        if stored and (self._origin is None or stored.get("origin") == self._origin):
            self._tokens = stored
            return stored
        code = self.config.get("authorization_code")
        if code:
            grant = {"grant_type": "authorization_code", "code": code}
        elif self.config.get("refresh_token"):
            grant = {"grant_type": "refresh_token", "refresh_token": self.config["refresh_token"]}
        else:
            raise errors.oauth_not_configured(self.name)
        return await self._obtain(grant, "oauth_code_exchanged" if code else "oauth_refreshed")

    async def _refresh(self, tokens: Mapping[str, Any]) -> dict[str, Any]:
        grant = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        return await self._obtain(grant, "oauth_refreshed")

    async def _obtain(self, grant: Mapping[str, str], event: str) -> dict[str, Any]:
        body = {
            "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"],
            "redirect_uri": self.config["redirect_uri"],
            **grant,
        }
        self.refreshes += 1
        response = await self.transport.request("POST", self.token_url, json_body=body)
        data = response.data
        if not isinstance(data, dict) or "access_token" not in data or "refresh_token" not in data:
            raise errors.unexpected_answer("the OAuth token request")
        issued = float(data.get("server_time") or time.time())
        tokens = {
            "access_token": data["access_token"],
            "refresh_token": data["refresh_token"],
            "expires_at": issued + float(data.get("expires_in", 86400)),
            "origin": self._origin,
        }
        # Persist before use: the old refresh token is already dead at the CRM.
        await self.store.save(self.name, tokens)
        self._tokens = tokens
        log.info(event, connection=self.name)
        return tokens


def _expiring(tokens: Mapping[str, Any]) -> bool:
    return float(tokens.get("expires_at", 0)) - EXPIRY_MARGIN <= time.time()
