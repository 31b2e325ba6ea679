"""A CRM connection's rate limit held by every daemon instance together, in one database row.

A CRM's limit is per account, not per process: three instances each pacing themselves at 7
requests/s would send 21. So the bucket lives in PostgreSQL, one ``rate_limits`` row per
connection, as a GCRA (generic cell rate algorithm): the row keeps the theoretical arrival time
of the next request; taking a slot is one row-locked ``UPDATE … RETURNING`` that says how long
to wait. Reservations, not polling: a caller learns its slot in one round trip and sleeps until
it, so instances never spin on the row.

The interval and burst of each connection's row come from its CRM's spec
(``ConnectorSpec.shared_limit``): a CRM that counts requests in a sliding second gets slots a
little wider than its limit allows (``connectors.spec.per_second_shared``), a CRM that meters a
leaky bucket gets that bucket with a burst one below its own (``connectors.spec.leaky_bucket``):
GCRA is exactly a leaky bucket.

``block_for`` (a 429's ``retry_after``) is synchronous in the ``RateLimiter`` protocol: it takes
effect in this process at once and reaches the other instances through ``blocked_until`` written
in the background. Every slot honours ``blocked_until``, and a caller that slept until its slot
checks it again, so no instance sends into a pause another instance was told about.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from jivocrm.core.errors import RetriableError, StoreError

if TYPE_CHECKING:
    from jivocrm.store.postgres_db import Database

log = structlog.get_logger("jivocrm.store")


# How late after its slot a request may still leave, and how many missed slots are given up
# before one is used anyway (a loop that is always this late must still make progress).
MAX_LATE = 0.05
MAX_RETAKES = 5


@dataclass(frozen=True)
class Reservation:
    slot: float  # when the request may go, on the database's clock (Unix seconds)
    wait: float  # seconds from the database's now until then


class PostgresRateLimiter:
    """``RateLimiter`` on one ``rate_limits`` row: ``burst`` at once, then one per ``interval``."""

    def __init__(self, db: Database, name: str, *, interval: float, burst: int = 1) -> None:
        self.db = db
        self.name = name
        self.interval = interval
        self.tolerance = (max(1, burst) - 1) * interval
        self._blocked_until = 0.0  # monotonic, this process's knowledge of the pause
        self.missed = 0  # slots given up because this process woke too late for them
        self._ready = False
        self._writes: set[asyncio.Task[None]] = set()

    async def acquire(self) -> float:
        start = time.monotonic()
        try:
            await self._ensure_row()
            for attempt in range(MAX_RETAKES + 1):
                await self._wait_local_block()
                asked = time.monotonic()
                wait = (await self.reserve()).wait
                # The slot cannot begin before this local time (the database may have answered
                # later than `asked`, never earlier).
                due = asked + max(wait, 0.0)
                if wait > 0:
                    await asyncio.sleep(due - time.monotonic())
                    # A pause may have begun while we slept (another instance's 429): the
                    # slot is void; wait for the pause to end and take a new one.
                    remaining = await self._blocked_remaining()
                    if remaining > 0:
                        self._note_block(remaining)
                        continue
                # A busy event loop may have woken us long after the slot began. Sending now
                # would bunch this request up with the next instances' slots at the CRM, so a
                # slot missed by more than MAX_LATE is given up for a new one.
                if time.monotonic() - due <= MAX_LATE or attempt == MAX_RETAKES:
                    break
                self.missed += 1
        except StoreError as exc:
            # Without the shared bucket, sending would risk the whole account's limit: treat
            # it like the CRM being unreachable, so the run is retried later.
            raise RetriableError(
                f"{self.name}: the shared rate limiter is unavailable ({exc}); retrying later"
            ) from exc
        return time.monotonic() - start

    def block_for(self, seconds: float) -> None:
        self._note_block(seconds)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop, no other instance to tell from here
        task = loop.create_task(self._write_block(seconds), name=f"jivocrm-block-{self.name}")
        self._writes.add(task)  # a reference, or the task may be collected before it runs
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Wait for pending ``blocked_until`` writes (tests; shutdown)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # ---- internals ---------------------------------------------------------------------------
    def _note_block(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)

    async def _wait_local_block(self) -> None:
        while (pause := self._blocked_until - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(pause)

    async def _ensure_row(self) -> None:
        if not self._ready:
            await self.db.execute("limiter_ensure", {"name": self.name})
            self._ready = True

    async def reserve(self) -> Reservation:
        """Take the next slot of the shared bucket: when it begins (the database's clock, Unix
        seconds) and how long from now that is."""
        await self._ensure_row()
        params = {"name": self.name, "interval": self.interval, "tolerance": self.tolerance}
        row = await self.db.fetchone("limiter_take", params)
        if row is None:  # the row was deleted under us (a reset): make it again
            self._ready = False
            await self._ensure_row()
            row = await self.db.fetchone("limiter_take", params)
            assert row is not None
        return Reservation(float(row["slot"]), float(row["wait"]))

    async def _blocked_remaining(self) -> float:
        row = await self.db.fetchone("limiter_blocked_for", {"name": self.name})
        return float(row["seconds"]) if row else 0.0

    async def _write_block(self, seconds: float) -> None:
        try:
            await self._ensure_row()
            await self.db.execute("limiter_block", {"name": self.name, "seconds": seconds})
        except StoreError as exc:
            # This instance still honours the pause; the others learn of it from their own 429.
            log.warning("rate_limit_block_not_shared", connection=self.name, error=str(exc))


__all__ = ["PostgresRateLimiter", "Reservation"]
