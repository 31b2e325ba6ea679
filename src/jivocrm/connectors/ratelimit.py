"""Rate limits belong to the connection: one limiter per CRM account, shared by every bundle.

``RateLimiter`` is what transports use. The local limiters serve one process; the PostgreSQL
store provides one shared by every daemon instance. Both honour the CRM's own wait hints through
``block_for``.

* A CRM that counts requests per second: ``WindowRateLimiter`` keeps at most ``rate`` requests
  in any sliding one-second window (a leaky bucket of capacity 7 would allow 14 in a window).
* A CRM that meters a leaky bucket (say 2/s drained, 50 of burst): ``BucketRateLimiter``.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol


class RateLimiter(Protocol):
    async def acquire(self) -> float:
        """Wait for permission to send one request; return the seconds spent waiting."""

    def block_for(self, seconds: float) -> None:
        """The CRM asked for a pause: no request of this connection before it ends."""


@dataclass(frozen=True)
class Clock:
    """Where a limiter reads the time and how it waits: the real ones, or a test's virtual ones
    (so a test of a limit counts requests on a clock no busy machine can disturb)."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


REAL = Clock()


class _Blocking:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._blocked_until = 0.0

    def block_for(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self.clock.now() + seconds)

    async def _wait_unblocked(self) -> None:
        # The pause may be extended while we sleep (another 429), hence the loop.
        while (pause := self._blocked_until - self.clock.now()) > 0:
            await self.clock.sleep(pause)


class WindowRateLimiter(_Blocking):
    """At most ``rate`` requests in any window of ``period`` seconds."""

    def __init__(self, rate: float, period: float = 1.0, clock: Clock = REAL) -> None:
        super().__init__(clock)
        self.limit = max(1, int(rate * period))
        self.period = period
        self._sent: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        start = self.clock.now()
        async with self._lock:
            await self._wait_unblocked()
            while True:
                now = self.clock.now()
                while self._sent and now - self._sent[0] >= self.period:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    break
                # A small margin keeps clock granularity from letting one request slip in early.
                await self.clock.sleep(self.period - (now - self._sent[0]) + 0.002)
            self._sent.append(self.clock.now())
        return self.clock.now() - start


def per_second(rate: float, window: float = 1.1, clock: Clock = REAL) -> WindowRateLimiter:
    """``rate`` requests per second for a CRM that counts them in a sliding second where they
    arrive: that many per ``window`` seconds, the extra tenth a margin for the jitter that
    connection set-up and the network add between leaving here and arriving there."""
    per_window = max(1, math.floor(rate))
    # WindowRateLimiter allows int(rate * period) per period; the epsilon keeps float rounding
    # from taking one request off.
    return WindowRateLimiter((per_window + 1e-6) / window, period=window, clock=clock)


class BucketRateLimiter(_Blocking):
    """A leaky bucket: ``burst`` requests at once, refilled at ``rate`` per second.

    Written as GCRA (the generic cell rate algorithm, as the PostgreSQL store's shared limiter
    is): the theoretical arrival time of the next request moves on by ``1 / rate`` per request,
    and a request may go up to ``burst - 1`` intervals before it. Each caller learns its slot at
    once and sleeps until it, in the order they asked.
    """

    def __init__(self, rate: float, burst: int, clock: Clock = REAL) -> None:
        super().__init__(clock)
        self.interval = 1.0 / rate
        self.tolerance = (max(1, burst) - 1) * self.interval
        self._tat = 0.0  # theoretical arrival time of the next request

    async def acquire(self) -> float:
        start = self.clock.now()
        await self._wait_unblocked()
        now = self.clock.now()
        slot = max(now, self._tat - self.tolerance, self._blocked_until)
        self._tat = max(self._tat, now, self._blocked_until) + self.interval
        if slot > now:
            await self.clock.sleep(slot - now)
        return self.clock.now() - start


class Unlimited(_Blocking):
    """No limit beyond the CRM's wait hints (emulators in benchmarks)."""

    def __init__(self, clock: Clock = REAL) -> None:
        super().__init__(clock)

    async def acquire(self) -> float:
        start = self.clock.now()
        await self._wait_unblocked()
        return self.clock.now() - start
