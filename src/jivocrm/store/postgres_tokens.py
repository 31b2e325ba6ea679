"""OAuth token pairs in PostgreSQL, refreshed under a lock that holds across daemon instances.

OAuth refresh tokens of the CRMs are single-use: if two instances refresh with the same one,
the second is refused and the connection is locked out until someone re-authorises it. The
connectors already refresh under ``TokenStore.lock`` after re-reading the stored pair; here that
lock is a PostgreSQL advisory lock held on one pooled connection for the whole scope, so exactly
one instance refreshes and the others, once they get the lock, read the pair it saved.

The lock is transaction-scoped (``pg_advisory_xact_lock`` in a transaction kept open for the
scope) rather than a session lock: behind PgBouncer in transaction pooling mode a session lock
and its unlock may land on different server connections, while an open transaction pins one.
The end of the transaction releases the lock on every path, errors included.

Within one process the callers first queue on an ``asyncio.Lock``: twenty runs hitting an
expired token at once then hold one pooled connection between them, not twenty (the holder
needs another connection to save the new pair, and an exhausted pool would deadlock it). If the
instance dies mid-refresh, PostgreSQL aborts its transaction and with it the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from jivocrm.store.postgres_db import TOKEN_LOCK_NAMESPACE, Database, Q


class PostgresTokenStore:
    """``TokenStore`` on the ``oauth_tokens`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._local: dict[str, asyncio.Lock] = {}

    async def load(self, name: str) -> dict[str, Any] | None:
        row = await self.db.fetchone("token_load", {"name": name})
        if row is None:
            return None
        data = json.loads(row["tokens"])
        return data if isinstance(data, dict) else None

    async def save(self, name: str, tokens: dict[str, Any]) -> None:
        await self.db.execute("token_save", {"name": name, "tokens": json.dumps(tokens)})

    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        params = {"namespace": TOKEN_LOCK_NAMESPACE, "name": name}
        async with self._local.setdefault(name, asyncio.Lock()), self.db.transaction() as conn:
            await conn.execute(Q["token_lock"], params)
            yield


__all__ = ["PostgresTokenStore"]
