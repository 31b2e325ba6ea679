"""The worker pool: one dispatcher claims runnable runs for the free slots, each run executes in
its own task, a heartbeat keeps the leases alive, a janitor gives expired leases back.

One claimer per process (not one per worker) keeps idle polling to one store write per wake-up.
Lanes are the store's business (``Store.claim``): this pool only ever sees runs whose lane is
free. Shutdown: stop claiming, let running runs stop at their next step boundary (a step that
already began writing finishes), cancel what is left after the timeout, release every lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time

import structlog

from jivocrm.engine.journal import RunOutcome
from jivocrm.engine.model import Bundle
from jivocrm.errors import JivoCRMError, StoreError
from jivocrm.server.execution import Verdict, Versions, execute_stored, retry_verdict, verdict
from jivocrm.server.state import Daemon, ProjectView
from jivocrm.store.base import Run
from jivocrm.store.journal import StoreJournal

log = structlog.get_logger("jivocrm.workers")

LEASE = 60.0  # seconds; longer than any one step (CRM timeout × in-call attempts)
POLL = 0.5  # seconds between claims when nothing wakes the dispatcher (retry_at coming due)
JANITOR = 10.0


class RunInterrupted(BaseException):
    """Raised into a run at a step boundary when the daemon stops. A BaseException on purpose:
    the runner turns every Exception of a step into a step record, this must pass through."""


class WorkerPool:
    def __init__(self, daemon: Daemon, size: int, lease: float = LEASE) -> None:
        self.daemon = daemon
        self.size = size
        self.lease = lease
        self.stopping = False
        self.inflight: dict[int, asyncio.Task[None]] = {}
        self.versions = Versions()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._release_orphans()
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="jivocrm-dispatcher"),
            asyncio.create_task(self._heartbeat(), name="jivocrm-heartbeat"),
            asyncio.create_task(self._janitor(), name="jivocrm-janitor"),
        ]
        log.info("workers_started", workers=self.size, owner=self.daemon.owner)

    async def stop(self, grace: float) -> None:
        self.stopping = True
        self.daemon.wake.set()
        running = list(self.inflight.values())
        log.info("workers_stopping", in_flight=len(running), grace=grace)
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        released = await self.daemon.store.release(self.daemon.owner)
        log.info("workers_stopped", released=released)

    # ---- claiming ----------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        store, wake = self.daemon.store, self.daemon.wake
        while not self.stopping:
            free = self.size - len(self.inflight)
            wake.clear()
            runs: list[Run] = []
            if free > 0:
                try:
                    runs = await store.claim(
                        self.daemon.owner, now=time.time(), lease=self.lease, limit=free
                    )
                except StoreError as exc:
                    log.error("claim_failed", error=str(exc))
            for run in runs:
                if self.stopping:  # claimed as the stop began: back to the queue at once
                    await store.release(self.daemon.owner, [run.id])
                    continue
                task = asyncio.create_task(self._execute(run), name=f"jivocrm-run-{run.id}")
                self.inflight[run.id] = task
                task.add_done_callback(functools.partial(self._done, run.id))
            if len(runs) < free or free == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL)

    def _done(self, run_id: int, _task: asyncio.Task[None]) -> None:
        self.inflight.pop(run_id, None)
        self.daemon.wake.set()  # a slot and maybe a lane are free

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            if self.inflight:
                try:
                    await self.daemon.store.heartbeat(
                        self.daemon.owner, list(self.inflight), until=time.time() + self.lease
                    )
                except StoreError as exc:
                    log.error("heartbeat_failed", error=str(exc))

    async def _janitor(self) -> None:
        while True:
            await asyncio.sleep(JANITOR)
            try:
                if await self.daemon.store.requeue_expired(now=time.time()):
                    self.daemon.wake.set()
            except StoreError as exc:
                log.error("requeue_failed", error=str(exc))

    async def _release_orphans(self) -> None:
        """Runs held by a process of this host that no longer exists go back now, without
        waiting for their lease (the common case: this daemon was killed and restarted)."""
        store = self.daemon.store
        host = socket.gethostname()
        for owner in await store.running_owners():
            parts = owner.rsplit(":", 2)
            mine = len(parts) == 3 and parts[0] == host and parts[1].isdigit()
            if mine and owner != self.daemon.owner and not _alive(int(parts[1])):
                count = await store.release(owner)
                log.info("runs_recovered", owner=owner, runs=count)
        await store.requeue_expired(now=time.time())

    # ---- one run -----------------------------------------------------------------------------
    def _check_stopping(self) -> None:
        if self.stopping:
            raise RunInterrupted()

    async def _execute(self, run: Run) -> None:
        view = self.daemon.view
        rlog = log.bind(run_id=run.id, bundle=run.bundle, lane=run.lane, attempt=run.attempt)
        try:
            await self._execute_in(view, run, rlog)
        except RunInterrupted:
            rlog.info("run_interrupted")  # still leased to us: released when the pool stops
        except asyncio.CancelledError:
            rlog.info("run_cancelled")
            raise
        except StoreError as exc:  # the journal could not be written: not the run's fault
            rlog.error("run_not_recorded", error=str(exc))
            await self._settle_crash(view, run, f"the store could not record the run: {exc}", True)
        except Exception as exc:
            # A bug or data no step expected: retrying cannot help, and every attempt would keep
            # the chat's later events waiting. Fail now; the run stays replayable.
            rlog.exception("run_crashed")
            error = (
                f"jivocrm could not execute this run ({type(exc).__name__}: {exc}); "
                f"the chat's later events go ahead; `jivocrm runs replay {run.id}` once fixed"
            )
            await self._settle_crash(view, run, error, False)

    async def _settle_crash(self, view: ProjectView, run: Run, error: str, retry: bool) -> None:
        """Record a run that ended outside the runner; if even that fails, the lease runs out
        and the janitor gives the run back."""
        rlog = log.bind(run_id=run.id, bundle=run.bundle, lane=run.lane, attempt=run.attempt)
        try:
            if retry:
                await self._retry(view, run, None, error, None, rlog)
            else:
                await self._fail(view, run, None, error, rlog)
        except Exception as exc:
            rlog.error("run_end_not_recorded", error=f"{type(exc).__name__}: {exc}")

    async def _execute_in(
        self, view: ProjectView, run: Run, rlog: structlog.stdlib.BoundLogger
    ) -> None:
        store = self.daemon.store
        bundle = view.project.bundle(run.bundle)
        if bundle is None:
            error = f"bundle {run.bundle!r} is no longer in the project"
            await self._fail(view, run, None, error, rlog)
            return
        if not bundle.enabled:
            await store.hold_run(run.id, self.daemon.owner)
            rlog.info("run_paused")
            return
        try:
            bundle = await self.versions.bundle(store, view.project, run, bundle)
        except StoreError:
            raise  # not the run's fault: retried on the durable schedule
        except JivoCRMError as exc:
            await self._fail(view, run, None, str(exc), rlog)
            return
        rlog.info("run_started")
        journal = StoreJournal(store, run.id, run.attempt, self._check_stopping)
        outcome = await execute_stored(store, view.runner, bundle, run, journal=journal)
        if isinstance(outcome, str):
            await self._fail(view, run, bundle, outcome, rlog)
            return
        for record in journal.records:
            self.daemon.metrics.step(bundle, record)
        await self._conclude(view, run, bundle, outcome, rlog)

    async def _conclude(
        self,
        view: ProjectView,
        run: Run,
        bundle: Bundle,
        outcome: RunOutcome,
        rlog: structlog.stdlib.BoundLogger,
    ) -> None:
        decided = verdict(view.project.retry, run, outcome, time.time())
        if decided.status == "succeeded":
            await self.daemon.store.finish_run(
                run.id,
                self.daemon.owner,
                status="succeeded",
                ran_hash=bundle.version_hash,
                reply=outcome.reply,
            )
            self.daemon.metrics.runs_finished.labels(bundle.name, "succeeded").inc()
            self.daemon.waiters.resolve(run.id, outcome.reply)
            rlog.info("run_succeeded", version=bundle.version_hash)
        else:
            await self._record(view, run, bundle, decided, rlog)

    async def _retry(
        self,
        view: ProjectView,
        run: Run,
        bundle: Bundle | None,
        error: str,
        hint: float | None,
        rlog: structlog.stdlib.BoundLogger,
    ) -> None:
        decided = retry_verdict(view.project.retry, run, error, hint, time.time())
        await self._record(view, run, bundle, decided, rlog)

    async def _record(
        self,
        view: ProjectView,
        run: Run,
        bundle: Bundle | None,
        decided: Verdict,
        rlog: structlog.stdlib.BoundLogger,
    ) -> None:
        error = decided.error or "the run failed"
        if decided.status == "failed" or decided.delay is None:
            if decided.lane_held:
                rlog.warning("lane_hold_exceeded", limit=view.project.retry.max_lane_hold)
            kind = "lane_held" if decided.lane_held else "run_failed"
            await self._fail(view, run, bundle, error, rlog, kind)
            return
        await self.daemon.store.retry_run(
            run.id,
            self.daemon.owner,
            retry_at=time.time() + decided.delay,
            ran_hash=bundle.version_hash if bundle else None,
            error=error,
        )
        self.daemon.metrics.runs_finished.labels(run.bundle, "retry").inc()
        self.daemon.waiters.resolve(run.id, None)
        rlog.info("run_retry_scheduled", delay=round(decided.delay, 2), error=error)

    async def _fail(
        self,
        view: ProjectView,
        run: Run,
        bundle: Bundle | None,
        error: str,
        rlog: structlog.stdlib.BoundLogger,
        kind: str = "run_failed",
    ) -> None:
        await self.daemon.store.finish_run(
            run.id,
            self.daemon.owner,
            status="failed",
            ran_hash=bundle.version_hash if bundle else None,
            error=error,
        )
        self.daemon.metrics.runs_finished.labels(run.bundle, "failed").inc()
        self.daemon.waiters.resolve(run.id, None)
        rlog.warning("run_failed", error=error)
        if self.daemon.notifier is not None:
            self.daemon.notifier.run_failed(run, error, lane_held=kind == "lane_held")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


__all__ = ["LEASE", "RunInterrupted", "WorkerPool"]
