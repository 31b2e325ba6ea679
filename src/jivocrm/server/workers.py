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
from collections.abc import Mapping
from typing import Any

import structlog

from jivocrm.core.errors import StoreError
from jivocrm.core.records import StepRecord
from jivocrm.engine.model import Bundle
from jivocrm.journal.execution import Ending, Execution, RunEnds
from jivocrm.server.state import Daemon
from jivocrm.store.base import Run

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
        self.execution = Execution(
            daemon.store, daemon.owner, ends=DaemonEnds(daemon), check_stopping=self._check_stopping
        )
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
        try:
            await self.execution.run(view.project, view.runner, run)
        except RunInterrupted:
            # Still leased to us: released when the pool stops.
            log.info("run_interrupted", run_id=run.id, bundle=run.bundle)
        except asyncio.CancelledError:
            log.info("run_cancelled", run_id=run.id, bundle=run.bundle)
            raise


class DaemonEnds(RunEnds):
    """What the daemon does beside the store as a run goes: metrics, the reply Jivo waits for,
    alerts."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def step_recorded(self, bundle: Bundle, record: StepRecord) -> None:
        self.daemon.metrics.step(bundle, record)

    def ended(
        self,
        run: Run,
        how: Ending,
        *,
        reply: Mapping[str, Any] | None = None,
        error: str | None = None,
        lane_held: bool = False,
    ) -> None:
        if how != "paused":
            self.daemon.metrics.runs_finished.labels(run.bundle, how).inc()
        self.daemon.waiters.resolve(run.id, dict(reply) if reply is not None else None)
        if how == "failed" and self.daemon.notifier is not None:
            self.daemon.notifier.run_failed(run, error or "the run failed", lane_held=lane_held)


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


__all__ = ["LEASE", "DaemonEnds", "RunInterrupted", "WorkerPool"]
