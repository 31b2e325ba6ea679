"""The connection limiters on a virtual clock: exact counts in every window, whatever the load.

Time moves only when every caller is waiting on the clock, to the earliest wake-up, so each
grant happens at the time the limiter decided and a busy machine cannot bunch or spread them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Sequence

from jivocrm.connectors.amocrm.factory import WINDOW, window_limiter
from jivocrm.connectors.ratelimit import BucketRateLimiter, Clock, RateLimiter

# Loop turns that let every runnable task reach its next wait (the limiters do no I/O).
SETTLE = 50


class VirtualClock:
    def __init__(self) -> None:
        self.t = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> Clock:
        return Clock(now=lambda: self.t, sleep=self.sleep)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + seconds, next(self._order), woken))
        await woken

    async def run(self, calls: Sequence[Callable[[], Awaitable[None]]]) -> None:
        tasks = [asyncio.create_task(call()) for call in calls]
        while not all(t.done() for t in tasks):
            for _ in range(SETTLE):
                await asyncio.sleep(0)
            if self._sleepers:
                wake, _, woken = heapq.heappop(self._sleepers)
                self.t = max(self.t, wake)
                woken.set_result(None)
        await asyncio.gather(*tasks)


def grants(virtual: VirtualClock, limiter: RateLimiter, count: int) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(virtual.t)

    asyncio.run(virtual.run([one] * count))
    return sorted(times)


def most_in_window(times: Sequence[float], window: float) -> int:
    best, first = 0, 0
    for last, stamp in enumerate(times):
        while stamp - times[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_the_bitrix24_bucket_lets_the_burst_go_then_drains_at_its_rate() -> None:
    virtual = VirtualClock()
    rate, burst = 20.0, 5
    times = grants(virtual, BucketRateLimiter(rate, burst, virtual.clock()), 300)
    assert times[:burst] == [0.0] * burst
    for window in (0.5, 1.0, 3.0):
        # A leaky bucket admits at most its burst plus what drained during the window.
        assert most_in_window(times, window) <= burst + rate * window
    # ...and no fewer: the limiter does not hold back requests the portal would take.
    assert abs(times[-1] - (300 - burst) / rate) < 1e-6


def test_the_amocrm_window_allows_seven_in_any_second_and_seven_per_window() -> None:
    virtual = VirtualClock()
    times = grants(virtual, window_limiter(7.0, virtual.clock()), 150)
    assert most_in_window(times, 1.0) == 7
    assert most_in_window(times, WINDOW) == 7
    # 150 requests, 7 per window: the last one goes in the 22nd window, not later.
    assert times[-1] < (150 // 7) * (WINDOW + 0.01)


def test_a_pause_the_crm_asked_for_holds_every_request_until_it_ends() -> None:
    virtual = VirtualClock()
    limiter = BucketRateLimiter(100.0, 10, virtual.clock())
    limiter.block_for(30.0)
    times = grants(virtual, limiter, 20)
    assert times[0] >= 30.0
    assert most_in_window(times, 0.05) <= 10 + 100 * 0.05
