"""Rate limits belong to the connection: one limiter per CRM account, shared by every bundle.

``RateLimiter`` is what transports use. The local limiters serve one process; the PostgreSQL
store provides one shared by every daemon instance. Both honour the CRM's own wait hints through
``block_for``.

* amoCRM counts requests per second: ``WindowRateLimiter`` keeps at most ``rate`` requests in any
  sliding one-second window (a leaky bucket of capacity 7 would allow 14 in a window).
* Bitrix24 is a leaky bucket (2/s drained, 50 of burst): ``BucketRateLimiter`` is aiolimiter's.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Protocol

from aiolimiter import AsyncLimiter


class RateLimiter(Protocol):
    async def acquire(self) -> float:
        """Wait for permission to send one request; return the seconds spent waiting."""

    def block_for(self, seconds: float) -> None:
        """The CRM asked for a pause: no request of this connection before it ends."""


class _Blocking:
    def __init__(self) -> None:
        self._blocked_until = 0.0

    def block_for(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)

    async def _wait_unblocked(self) -> None:
        # The pause may be extended while we sleep (another 429), hence the loop.
        while (pause := self._blocked_until - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(pause)


class WindowRateLimiter(_Blocking):
    """At most ``rate`` requests in any window of ``period`` seconds."""

    def __init__(self, rate: float, period: float = 1.0) -> None:
        super().__init__()
        self.limit = max(1, int(rate * period))
        self.period = period
        self._sent: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        start = time.monotonic()
        async with self._lock:
            await self._wait_unblocked()
            while True:
                now = time.monotonic()
                while self._sent and now - self._sent[0] >= self.period:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    break
                # A small margin keeps clock granularity from letting one request slip in early.
                await asyncio.sleep(self.period - (now - self._sent[0]) + 0.002)
            self._sent.append(time.monotonic())
        return time.monotonic() - start


class BucketRateLimiter(_Blocking):
    """A leaky bucket: ``burst`` requests at once, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        super().__init__()
        self._limiter = AsyncLimiter(max(1, burst), max(1, burst) / rate)

    async def acquire(self) -> float:
        start = time.monotonic()
        await self._wait_unblocked()
        await self._limiter.acquire()
        return time.monotonic() - start


class Unlimited(_Blocking):
    """No limit beyond the CRM's wait hints (emulators in benchmarks)."""

    async def acquire(self) -> float:
        start = time.monotonic()
        await self._wait_unblocked()
        return time.monotonic() - start
