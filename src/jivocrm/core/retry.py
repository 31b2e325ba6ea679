"""Retry policies as data plus a pure function, so their tests never sleep.

The same shape serves two places: retries inside one CRM call (tenacity, seconds) and the daemon's
durable schedule for a run that failed retriably (the store's ``retry_at``, seconds to hours).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, the first included
    initial: float = 0.5  # seconds before the second try
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: bool = True  # "full jitter": a uniform delay in [0, computed]
    # Seconds a run may hold its lane (from its first claim) while it keeps failing retriably;
    # None = as long as the attempts last. Past it the run fails, so the chat's later events go on.
    max_lane_hold: float | None = None

    def delay(
        self, attempt: int, retry_after: float | None = None, rand: random.Random | None = None
    ) -> float | None:
        """Seconds to wait after failed try number ``attempt`` (1-based), or None to stop.

        A wait hint from the CRM (``retry_after``) is a floor: never ask again sooner.
        """
        if attempt >= self.attempts:
            return None
        computed = min(self.max_delay, self.initial * self.multiplier ** (attempt - 1))
        if self.jitter:
            computed = (rand or random).uniform(computed / 2, computed)
        if retry_after is not None:
            computed = max(computed, retry_after)
        return computed


# Inside one call: a few quick tries; the run's durable schedule takes over after that.
IN_CALL = RetryPolicy(attempts=3, initial=0.5, max_delay=10.0)
# The daemon's schedule for a run: from seconds to hours, about a day in all.
DURABLE = RetryPolicy(
    attempts=12, initial=5.0, multiplier=3.0, max_delay=4 * 3600.0, max_lane_hold=3600.0
)
