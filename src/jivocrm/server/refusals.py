"""Refused deliveries recorded, within bounds a flood cannot break.

Intake hands every refused request here (``refused``, ``unknown_token``) and goes on at once:
nothing is written on the request's path. Every request is counted; per channel, at most
``BURST`` in a row and then ``RATE`` a second are kept in detail (time, status, reason, a redacted
excerpt of ``EXCERPT`` bytes); unknown tokens are counted per remote address, without bodies, for
at most ``REMOTES`` addresses. ``flush`` (every ``FLUSH_EVERY`` seconds) writes what gathered in one
store write; the store keeps only the newest ``KEPT`` detailed records, and retention drops older
ones with the journal. So 10,000 malformed requests cost a few writes and a bounded table.

Recording is best effort: a store that cannot take a batch keeps its counts for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from jivocrm.core.errors import StoreError
from jivocrm.core.logs import Redactor
from jivocrm.store.base import Refusal, RefusalCount, Store

if TYPE_CHECKING:
    pass

log = structlog.get_logger("jivocrm.intake")

RATE = 1.0  # detailed records per second and channel, after the burst
BURST = 20
EXCERPT = 1024  # bytes of the body kept, after redaction
KEPT = 1000  # detailed records the store keeps
REMOTES = 1000  # remote addresses of unknown-token requests counted by name
PENDING = 200  # detailed records waiting for a flush
FLUSH_EVERY = 1.0
UNKNOWN = ""  # the channel of an unknown token


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class _Pending:
    detailed: list[Refusal] = field(default_factory=list)
    counts: dict[tuple[str, int, str], RefusalCount] = field(default_factory=dict)

    def count(self, channel: str, status: int, remote: str, at: float, n: int = 1) -> None:
        key = (channel, status, remote)
        old = self.counts.get(key)
        first = old.first_at if old else at
        total = (old.count if old else 0) + n
        self.counts[key] = RefusalCount(channel, status, total, first, at, remote)


class RefusalRecorder:
    def __init__(
        self,
        store: Store,
        redactor: Redactor,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.redactor = redactor
        self.clock = clock
        self.wall = wall
        self._buckets: dict[str, _Bucket] = {}
        self._pending = _Pending()
        self._failing = False

    # ---- on the request's path: memory only ------------------------------------------------
    def refused(
        self,
        channel: str,
        status: int,
        reason: str,
        body: bytes = b"",
        *,
        remote: str | None = None,
        content_type: str | None = None,
    ) -> None:
        at = self.wall()
        self._pending.count(channel, status, "", at)
        if not self._take(channel) or len(self._pending.detailed) >= PENDING:
            return  # counted, not kept in detail
        excerpt = self.redactor.text(body[:EXCERPT].decode("utf-8", "replace")).encode()
        self._pending.detailed.append(
            Refusal(channel, status, reason, at, excerpt[:EXCERPT], remote, content_type)
        )

    def unknown_token(self, remote: str | None) -> None:
        address = remote or "unknown"
        known = {r for (c, _, r) in self._pending.counts if c == UNKNOWN}
        if address not in known and len(known) >= REMOTES:
            address = "other"
        self._pending.count(UNKNOWN, 404, address, self.wall())

    def _take(self, channel: str) -> bool:
        now = self.clock()
        bucket = self._buckets.setdefault(channel, _Bucket(BURST, now))
        bucket.tokens = min(BURST, bucket.tokens + (now - bucket.at) * RATE)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    # ---- in the background ------------------------------------------------------------------
    async def flush(self) -> None:
        pending, self._pending = self._pending, _Pending()
        if not pending.detailed and not pending.counts:
            return
        try:
            await self.store.record_refusals(
                pending.detailed, list(pending.counts.values()), keep=KEPT
            )
        except StoreError as exc:
            if not self._failing:
                log.error("refusals_not_stored", error=str(exc))
            self._failing = True
            for c in pending.counts.values():  # counts wait for the next batch; details go
                self._pending.count(c.channel, c.status, c.remote, c.last_at, c.count)
            return
        self._failing = False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self.flush()

    async def stop(self) -> None:
        with contextlib.suppress(StoreError):
            await self.flush()


def error_of(answer: web.Response) -> str:
    """The message of an error answer intake built (``{"result": "error", "error": …}``)."""
    try:
        data = json.loads(answer.text or "{}")
    except ValueError:
        return answer.text or f"refused with {answer.status}"
    return str(data.get("error") or answer.text)


__all__ = ["KEPT", "RefusalRecorder", "error_of"]
