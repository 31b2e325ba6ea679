"""How calls reach a portal: an incoming webhook, or an OAuth application whose tokens rotate.

Webhook: ``{base}/rest/{user}/{code}/{method}``; the code is the secret.

OAuth: ``{base}/rest/{method}?auth={access_token}``. Access tokens live an hour; each refresh
through the OAuth server returns a new refresh token and the old one stops working, so the newest
pair is persisted before it is used (a 0600 file under the state directory, or the store's
``token_store``) and refreshes run under a lock: of several callers that hit ``expired_token`` with
the same token, the first refreshes and the others reuse its result.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog

from jivocrm.connectors.http import Transport
from jivocrm.connectors.tokens import TokenStore
from jivocrm.core.errors import AuthError
from jivocrm.core.i18n import Text

log = structlog.get_logger("jivocrm.bitrix24")

# Refresh a little before the announced expiry, so a token never dies in flight.
EXPIRY_MARGIN = 60.0


class WebhookAuth:
    oauth = False

    def __init__(self, base: str, user_id: str, code: str) -> None:
        self.base = base.rstrip("/")
        self.user_id = user_id
        self.code = code

    def endpoint(self, method: str) -> tuple[str, dict[str, str]]:
        return f"{self.base}/rest/{self.user_id}/{self.code}/{method}", {}

    def secrets(self) -> list[str]:
        return [self.code]

    def token(self) -> str | None:
        return None

    async def prepare(self) -> None:
        return None

    async def renew(self, stale: str | None) -> bool:
        """Webhooks have nothing to renew: the caller's auth error stands."""
        return False


class OAuthAuth:
    oauth = True

    def __init__(
        self,
        *,
        name: str,
        base: str,
        oauth_server: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        store: TokenStore,
    ) -> None:
        self.name = name
        self.base = base.rstrip("/")
        self.oauth_server = oauth_server.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.configured_refresh = refresh_token
        self.refresh_token = refresh_token
        self.access_token: str | None = None
        self.expires_at = 0.0
        self.store = store
        self.transport: Transport | None = None  # set by the connector that owns this
        self.refreshes = 0
        self._issued: list[str] = []  # tokens seen in OAuth answers, kept out of the journal
        self._loaded = False
        self._lock = asyncio.Lock()

    def endpoint(self, method: str) -> tuple[str, dict[str, str]]:
        return f"{self.base}/rest/{method}", {"auth": self.access_token or ""}

    def secrets(self) -> list[str]:
        current = (self.client_secret, self.refresh_token, self.access_token)
        return [s for s in current if s] + self._issued

    def remember_issued(self, data: Any) -> None:
        """Note tokens in an OAuth server's answer before the transport records that answer."""
        if isinstance(data, dict):
            for key in ("access_token", "refresh_token"):
                if isinstance(data.get(key), str):
                    self._issued.append(data[key])
            del self._issued[:-8]

    def token(self) -> str | None:
        return self.access_token

    async def prepare(self) -> None:
        """Load the persisted pair once, and refresh when there is no live access token."""
        if self._loaded and self.access_token and time.time() < self.expires_at - EXPIRY_MARGIN:
            return
        async with self._lock, self.store.lock(self.name):
            if not self._loaded or not self.access_token:
                await self._load()
            if not self.access_token or time.time() >= self.expires_at - EXPIRY_MARGIN:
                await self._refresh()

    async def renew(self, stale: str | None) -> bool:
        """Refresh after ``expired_token`` unless another caller already replaced ``stale``.

        The store's lock spans daemon instances; after taking it, the stored pair is read again,
        since another instance may have refreshed meanwhile (its refresh token is the live one).
        """
        async with self._lock, self.store.lock(self.name):
            if self.access_token and self.access_token != stale:
                return True
            self._loaded = False
            await self._load()
            if self.access_token and self.access_token != stale:
                return True
            await self._refresh()
            return True

    async def _load(self) -> None:
        self._loaded = True
        saved = await self.store.load(self.name)
        # A refresh_token changed in the config means the user authorised again: it wins over
        # the pair persisted from the old one.
        if not saved or saved.get("configured_refresh") != self.configured_refresh:
            return
        self.refresh_token = str(saved.get("refresh_token") or self.refresh_token)
        self.access_token = saved.get("access_token") or None
        self.expires_at = float(saved.get("expires_at") or 0)

    async def _refresh(self) -> None:
        assert self.transport is not None, "OAuthAuth.transport is set by the connector"
        response = await self.transport.request(
            "GET",
            f"{self.oauth_server}/oauth/token/",
            params={
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
            },
            # The OAuth server is not the portal: its calls do not count against the bucket.
            limited=False,
        )
        data = response.data if isinstance(response.data, dict) else {}
        access, refresh = data.get("access_token"), data.get("refresh_token")
        if not access or not refresh:
            raise AuthError(
                Text("Bitrix24 OAuth server answered without tokens: check `oauth.oauth_server`"),
                status=response.status,
            )
        expires_in = float(data.get("expires_in") or 3600)
        expires_at = time.time() + expires_in
        pair: dict[str, Any] = {
            "access_token": str(access),
            "refresh_token": str(refresh),
            "expires_at": expires_at,
            "member_id": data.get("member_id"),
            "configured_refresh": self.configured_refresh,
        }
        # Persist before use: the old refresh token is already dead on the server.
        await self.store.save(self.name, pair)
        self.access_token, self.refresh_token = str(access), str(refresh)
        self.expires_at = expires_at
        self.refreshes += 1
        log.info("bitrix24_token_refreshed", connection=self.name, expires_in=expires_in)


Auth = WebhookAuth | OAuthAuth
