"""One claimed run, executed and ended: what a daemon worker and an in-process replay both do.

``Execution.run`` is the one way a claimed run goes: it finds the bundle (the version the run was
pinned to, ``Versions``), holds it when the bundle is paused, executes it from its recorded state
(``execute_stored``), and ends it in the store as ``verdict`` says — succeeded, retried on the
durable schedule, or failed. What else happens when a run ends is the caller's (``RunEnds``: the
daemon counts it in its metrics, answers the reply waiter, alerts; a replay in the CLI only
logs). ``verdict`` is a pure function of the project's retry policy and the time, so its tests
never sleep.

Only a retriable CRM failure is retried, and only while the run has held its lane for less than
``retry.max_lane_hold``: the chat's later events wait behind it, so its last attempt is at that
bound at the latest, and then it fails (replayable, alerted) and the lane moves on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import structlog

from jivocrm.core.errors import JivoCRMError, StoreError
from jivocrm.core.records import RunJournal, RunOutcome, StepRecord
from jivocrm.engine.versions import bundle_at
from jivocrm.store.journal import StoreJournal, resume_state

if TYPE_CHECKING:
    from jivocrm.core.retry import RetryPolicy
    from jivocrm.engine.model import Bundle, Project
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
    store: Store,
    runner: Runner,
    bundle: Bundle,
    run: Run,
    *,
    journal: RunJournal,
    hold_last: bool = False,
) -> RunOutcome | str:
    """The run's outcome, or why it cannot run at all (its event was pruned). With
    ``hold_last`` the last results stay in the journal (``StoreJournal.take_held``) for the
    caller to store with the run's end; else they are stored before this returns."""
    stored = await store.get_event(run.event_id)
    if stored is None:
        return "the event is gone from the store"
    event = runner.project.parse(stored.payload())
    done, resumed = resume_state(await store.steps(run.id))
    info = {"id": run.id, "attempt": run.attempt, "lane": run.lane, "event_id": run.event_id}
    outcome = await runner.execute(
        bundle, event, journal=journal, done=done, resumed=resumed, run_info=info
    )
    if not hold_last and isinstance(journal, StoreJournal):
        await journal.flush()
    return outcome


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


log = structlog.get_logger("jivocrm.runs")
Ending = Literal["succeeded", "retry", "failed", "paused"]


class RunEnds:
    """What happens beside the store as a run goes: the daemon's metrics, reply waiters and
    alerts (``server.workers.DaemonEnds``). A replay in the CLI has none of these: this base
    does nothing (``QUIET``)."""

    def step_recorded(self, bundle: Bundle, record: StepRecord) -> None:
        return None

    def ended(
        self,
        run: Run,
        how: Ending,
        *,
        reply: Mapping[str, Any] | None = None,
        error: str | None = None,
        lane_held: bool = False,
    ) -> None:
        return None


QUIET = RunEnds()


class Execution:
    """Claimed runs executed and ended in ``store`` by ``owner``, the one way for everyone."""

    def __init__(
        self,
        store: Store,
        owner: str,
        *,
        ends: RunEnds = QUIET,
        versions: Versions | None = None,
        check_stopping: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.ends = ends
        self.versions = versions or Versions()
        self.check_stopping = check_stopping

    async def run(self, project: Project, runner: Runner, run: Run) -> None:
        """Execute ``run`` (claimed by ``owner``) and record how it ended.

        A crash outside a step (a bug, a row that cannot be read back) fails the run at once:
        retrying cannot help, and every attempt would keep the chat's later events waiting. A
        store that cannot record the run is not the run's fault: the run is retried on the
        durable schedule. A ``BaseException`` (the daemon stopping) passes through untouched.
        """
        rlog = log.bind(run_id=run.id, bundle=run.bundle, lane=run.lane, attempt=run.attempt)
        try:
            await self._run(project, runner, run, rlog)
        except StoreError as exc:
            rlog.error("run_not_recorded", error=str(exc))
            await self._settle(project, run, f"the store could not record the run: {exc}", rlog)
        except Exception as exc:
            rlog.exception("run_crashed")
            error = (
                f"jivocrm could not execute this run ({type(exc).__name__}: {exc}); "
                f"the chat's later events go ahead; `jivocrm runs replay {run.id}` once fixed"
            )
            await self._settle(project, run, error, rlog, retry=False)

    async def _run(
        self, project: Project, runner: Runner, run: Run, rlog: structlog.stdlib.BoundLogger
    ) -> None:
        bundle = project.bundle(run.bundle)
        if bundle is None:
            await self._fail(run, None, f"bundle {run.bundle!r} is no longer in the project", rlog)
            return
        if not bundle.enabled:
            await self.store.hold_run(run.id, self.owner)
            rlog.info("run_paused")
            self.ends.ended(run, "paused")
            return
        try:
            bundle = await self.versions.bundle(self.store, project, run, bundle)
        except StoreError:
            raise  # not the run's fault: retried on the durable schedule
        except JivoCRMError as exc:
            await self._fail(run, None, str(exc), rlog)
            return
        rlog.info("run_started")
        journal = StoreJournal(self.store, run.id, run.attempt, self.check_stopping)
        outcome = await execute_stored(
            self.store, runner, bundle, run, journal=journal, hold_last=True
        )
        if isinstance(outcome, str):
            await self._fail(run, bundle, outcome, rlog)
            return
        for record in journal.records:
            self.ends.step_recorded(bundle, record)
        decided = verdict(project.retry, run, outcome)
        if decided.status != "succeeded":
            await journal.flush()
        await self._end(project, run, bundle, decided, rlog, outcome, journal.take_held())

    async def _settle(
        self,
        project: Project,
        run: Run,
        error: str,
        rlog: structlog.stdlib.BoundLogger,
        *,
        retry: bool = True,
    ) -> None:
        """End a run that stopped outside the runner; if even that fails, its lease runs out
        and a janitor gives the run back."""
        try:
            if retry:
                decided = retry_verdict(project.retry, run, error, None)
                await self._end(project, run, None, decided, rlog)
            else:
                await self._fail(run, None, error, rlog)
        except Exception as exc:
            rlog.error("run_end_not_recorded", error=f"{type(exc).__name__}: {exc}")

    async def _end(
        self,
        project: Project,
        run: Run,
        bundle: Bundle | None,
        decided: Verdict,
        rlog: structlog.stdlib.BoundLogger,
        outcome: RunOutcome | None = None,
        steps: list[StepRecord] | None = None,
    ) -> None:
        ran = bundle.version_hash if bundle else None
        if decided.status == "succeeded" and outcome is not None:
            # The last steps' results and the run's end: one transaction.
            await self.store.finish_run(
                run.id,
                self.owner,
                status="succeeded",
                ran_hash=ran,
                reply=outcome.reply,
                steps=steps or (),
                attempt=run.attempt,
            )
            self.ends.ended(run, "succeeded", reply=outcome.reply)
            rlog.info("run_succeeded", version=ran)
            return
        error = decided.error or "the run failed"
        if decided.status == "retry" and decided.delay is not None:
            await self.store.retry_run(
                run.id, self.owner, retry_at=time.time() + decided.delay, ran_hash=ran, error=error
            )
            self.ends.ended(run, "retry", error=error)
            rlog.info("run_retry_scheduled", delay=round(decided.delay, 2), error=error)
            return
        if decided.lane_held:
            rlog.warning("lane_hold_exceeded", limit=project.retry.max_lane_hold)
        await self._fail(run, bundle, error, rlog, lane_held=decided.lane_held)

    async def _fail(
        self,
        run: Run,
        bundle: Bundle | None,
        error: str,
        rlog: structlog.stdlib.BoundLogger,
        *,
        lane_held: bool = False,
    ) -> None:
        ran = bundle.version_hash if bundle else None
        await self.store.finish_run(run.id, self.owner, status="failed", ran_hash=ran, error=error)
        self.ends.ended(run, "failed", error=error, lane_held=lane_held)
        rlog.warning("run_failed", error=error)


__all__ = [
    "QUIET",
    "Execution",
    "RunEnds",
    "Verdict",
    "Versions",
    "execute_stored",
    "retry_verdict",
    "verdict",
]
