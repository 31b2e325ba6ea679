"""One claimed run, executed: what a daemon worker and an in-process replay both do.

``execute_stored`` reads the run's event and resume state back from the store and runs the
bundle; ``verdict`` turns the outcome into what the store records next (a pure function of the
project's retry policy, so its tests never sleep).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from jivocrm.engine.journal import RunJournal, RunOutcome
from jivocrm.store.journal import resume_state

if TYPE_CHECKING:
    from jivocrm.engine.model import Bundle
    from jivocrm.engine.retry import RetryPolicy
    from jivocrm.engine.runner import Runner
    from jivocrm.store.base import Run, Store


async def execute_stored(
    store: Store, runner: Runner, bundle: Bundle, run: Run, *, journal: RunJournal
) -> RunOutcome | str:
    """The run's outcome, or why it cannot run at all (its event was pruned)."""
    stored = await store.get_event(run.event_id)
    if stored is None:
        return "the event is gone from the store"
    event = runner.project.parse(stored.payload())
    done, resumed = resume_state(await store.steps(run.id))
    info = {"id": run.id, "attempt": run.attempt, "lane": run.lane, "event_id": run.event_id}
    return await runner.execute(
        bundle, event, journal=journal, done=done, resumed=resumed, run_info=info
    )


@dataclass(frozen=True)
class Verdict:
    status: Literal["succeeded", "retry", "failed"]
    delay: float | None = None  # seconds until the next attempt, for "retry"
    error: str | None = None


def verdict(policy: RetryPolicy, run: Run, outcome: RunOutcome) -> Verdict:
    if outcome.status == "succeeded":
        return Verdict("succeeded")
    if outcome.status == "retry":
        return retry_verdict(policy, run, outcome.error or "retriable error", outcome.retry_after)
    return Verdict("failed", error=outcome.error or "the run failed")


def retry_verdict(policy: RetryPolicy, run: Run, error: str, hint: float | None) -> Verdict:
    """Retry on the durable schedule (the CRM's wait hint as a floor), or give up."""
    delay = policy.delay(run.attempt, hint)
    if delay is None:
        return Verdict("failed", error=f"gave up after {run.attempt} attempts: {error}")
    return Verdict("retry", delay, error)


__all__ = ["Verdict", "execute_stored", "retry_verdict", "verdict"]
