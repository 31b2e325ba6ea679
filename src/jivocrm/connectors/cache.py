"""Per-connection memory of what rarely changes: the CRM's users and its metadata.

Every run names users, pipelines, stages and custom fields; fetching them per run would double
the CRM calls of a run and eat the account's rate limit. So each connection keeps them for a
while (users: ``user_ttl``, metadata: ``metadata_ttl``), shared by every bundle and run of the
process. A name that is not in the cached copy triggers one forced refresh before the step gives
up, so a pipeline added in the CRM a minute ago is still found. A metadata snapshot written by
``jivocrm connections refresh`` can seed the cache (``preload``) so even the first run costs
nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import structlog

from jivocrm.core.claims import Claims, PersonClaims

if TYPE_CHECKING:
    from jivocrm.connectors.base import Connector, CrmUser, Metadata

log = structlog.get_logger("jivocrm.cache")

T = TypeVar("T")

USER_TTL = 300.0
METADATA_TTL = 3600.0


class _Slot(Generic[T]):
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.value: T | None = None
        self.at = 0.0
        self.lock = asyncio.Lock()

    def fresh(self, now: float) -> bool:
        return self.value is not None and now - self.at < self.ttl

    async def get(self, fetch: Callable[[], Awaitable[T]], clock: Callable[[], float]) -> T:
        if self.value is not None and self.fresh(clock()):
            return self.value
        # One fetch at a time: concurrent runs wait for it rather than each asking the CRM.
        async with self.lock:
            if self.value is not None and self.fresh(clock()):
                return self.value
            value = await fetch()
            self.value, self.at = value, clock()
            return value

    def put(self, value: T, at: float) -> None:
        self.value, self.at = value, at


class ConnectionCache:
    """Users and metadata of one connection, each kept for its TTL."""

    def __init__(
        self,
        name: str,
        *,
        user_ttl: float = USER_TTL,
        metadata_ttl: float = METADATA_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._clock = clock
        self._users: _Slot[list[CrmUser]] = _Slot(user_ttl)
        self._metadata: _Slot[Metadata] = _Slot(metadata_ttl)
        # The people being looked up and created by runs of this connection (core/claims.py).
        self.claims: PersonClaims = Claims()

    def preload(self, metadata: Metadata) -> None:
        """Seed from a snapshot; its users count too."""
        now = self._clock()
        self._metadata.put(metadata, now)
        if metadata.users:
            self._users.put(list(metadata.users), now)

    async def users(self, connector: Connector, *, refresh: bool = False) -> list[CrmUser]:
        if refresh:
            self._users.at = float("-inf")

        async def fetch() -> list[CrmUser]:
            users = await connector.list_users()
            log.info("users_cached", connection=self.name, count=len(users))
            return users

        return await self._users.get(fetch, self._clock)

    async def metadata(self, connector: Connector, *, refresh: bool = False) -> Metadata:
        if refresh:
            self._metadata.at = float("-inf")

        async def fetch() -> Metadata:
            metadata = await connector.fetch_metadata()
            log.info("metadata_cached", connection=self.name, pipelines=len(metadata.pipelines))
            # fetch_metadata lists the users as well: keep them, one call saved.
            if metadata.users:
                self._users.put(list(metadata.users), self._clock())
            return metadata

        return await self._metadata.get(fetch, self._clock)


__all__ = ["METADATA_TTL", "USER_TTL", "ConnectionCache"]
