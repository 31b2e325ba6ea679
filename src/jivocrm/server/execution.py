"""One claimed run, executed: what a daemon worker and an in-process replay both do.

``execute_stored`` reads the run's event and resume state back from the store and runs the
bundle; ``verdict`` turns the outcome into what the store records next (a pure function of the
project's retry policy and the time, so its tests never sleep). ``Versions`` gives a pinned run (a
replay with ``--config original``) the bundle version it recorded instead of the project's
current one.

Only a retriable CRM failure is retried, and only while the run has held its lane for less than
``retry.max_lane_hold``: the chat's later events wait behind it, so its last attempt is at that
bound at the latest, and then it fails (replayable, alerted) and the lane moves on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from jivocrm.engine.journal import RunJournal, RunOutcome
from jivocrm.engine.versions import bundle_at
from jivocrm.errors import JivoCRMError
from jivocrm.store.journal import resume_state

if TYPE_CHECKING:
    from jivocrm.engine.model import Bundle, Project
    from jivocrm.engine.retry import RetryPolicy
    from jivocrm.engine.runner import Runner
    from jivocrm.store.base import Run, Store


class Versions:
    """Stored bundle versions loaded for pinned runs, kept per project (a reload starts anew)."""

    def __init__(self) -> None:
        self._project: Project | None = None
        self._loaded: dict[str, Bundle] = {}

    async def bundle(self, store: Store, project: Project, run: Run, current: Bundle) -> Bundle:
        """The bundle ``run`` executes with; ``JivoCRMError`` when its version cannot run."""
        if not run.pinned or run.version_hash == current.version_hash:
            return current
        if self._project is not project:
            self._project, self._loaded = project, {}
        if run.version_hash not in self._loaded:
            version = await store.bundle_version(run.version_hash)
            if version is None:
                raise JivoCRMError(
                    f"version {run.version_hash} of bundle {run.bundle!r} is not in the store; "
                    "replay with --config current"
                )
            self._loaded[run.version_hash] = bundle_at(project, version)
        return self._loaded[run.version_hash]


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
    lane_held: bool = False  # failed because it held its lane past retry.max_lane_hold


def verdict(
    policy: RetryPolicy, run: Run, outcome: RunOutcome, now: float | None = None
) -> Verdict:
    if outcome.status == "succeeded":
        return Verdict("succeeded")
    if outcome.status == "retry":
        error = outcome.error or "retriable error"
        return retry_verdict(policy, run, error, outcome.retry_after, now)
    return Verdict("failed", error=outcome.error or "the run failed")


def retry_verdict(
    policy: RetryPolicy, run: Run, error: str, hint: float | None, now: float | None = None
) -> Verdict:
    """Retry on the durable schedule (the CRM's wait hint as a floor) within the lane-hold
    bound, or give up."""
    delay = policy.delay(run.attempt, hint)
    if delay is None:
        return Verdict("failed", error=f"gave up after {run.attempt} attempts: {error}")
    limit = policy.max_lane_hold
    if limit is None or run.started_at is None:
        return Verdict("retry", delay, error)
    held = (time.time() if now is None else now) - run.started_at
    if held >= limit:
        return Verdict(
            "failed",
            error=f"held its lane for {held:.0f} s (retry.max_lane_hold is {limit:g} s) and "
            f"still fails, so the chat's later events go ahead; replay it once the CRM "
            f"answers: {error}",
            lane_held=True,
        )
    # The last attempt comes at the bound, yet never sooner than the CRM asked.
    return Verdict("retry", max(min(delay, limit - held), hint or 0.0), error)


__all__ = ["Verdict", "Versions", "execute_stored", "retry_verdict", "verdict"]
