"""Person claims held by every daemon instance together, one ``person_claims`` row per key.

The same contract as ``core.claims.Claims`` (which serves a single process): an owner — a run —
claims the phones and e-mails of the person it is about to look up and create, and lets go when
it ends; a run of another instance matching the same person waits, then finds the record. Taking
a key is one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` that succeeds when nobody holds the key,
the owner already does, or the holder's claim has lapsed (an instance that died); a waiter asks
again every ``poll`` seconds and gives up after ``wait``, as the in-process claims do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

import structlog

from jivocrm.core.claims import WAIT
from jivocrm.core.errors import StoreError

if TYPE_CHECKING:
    from jivocrm.store.postgres_db import Database

log = structlog.get_logger("jivocrm.claims")

POLL = 0.05
# Longer than any run holds a person; a claim outlives its instance by this at most.
LEASE = 300.0


class PostgresClaims:
    def __init__(
        self,
        db: Database,
        connection: str,
        *,
        instance: str | None = None,
        wait: float = WAIT,
        poll: float = POLL,
        lease: float = LEASE,
    ) -> None:
        self.db = db
        self.connection = connection
        self.instance = instance or uuid.uuid4().hex
        self.wait, self.poll, self.lease = wait, poll, lease
        # Owners with a row or more in person_claims: a run that claimed nothing (most runs of
        # most bundles) ends without a round trip to the database.
        self._holding: set[str] = set()

    def _owner(self, owner: object) -> str:
        return f"{self.instance}:{id(owner)}"

    async def holder(self, key: str) -> str | None:
        row = await self.db.fetchone("claim_holder", {"key": f"{self.connection}:{key}"})
        return str(row["owner"]) if row else None

    async def claim(self, owner: object, keys: Iterable[str]) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        me = self._owner(owner)
        self._holding.add(me)
        complete = True
        for key in sorted(set(keys)):
            params = {"key": f"{self.connection}:{key}", "owner": me, "lease": self.lease}
            while await self.db.fetchone("claim_take", params) is None:
                if loop.time() >= deadline:
                    log.warning("claim_given_up", key_kind=key.split(":", 1)[0], wait=self.wait)
                    complete = False
                    break
                await asyncio.sleep(self.poll)
        return complete

    async def release(self, owner: object) -> None:
        me = self._owner(owner)
        if me not in self._holding:
            return
        self._holding.discard(me)
        try:
            await self.db.execute("claim_release", {"owner": me})
        except StoreError as exc:  # the claims lapse on their own
            log.warning("claim_release_failed", error=str(exc))
