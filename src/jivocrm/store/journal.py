"""The runner's ``RunJournal`` on top of the store, and the resume state read back from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jivocrm.core.records import StepRecord
from jivocrm.store.base import StepRow, Store


class StoreJournal:
    """Records one attempt of one run. ``before_write`` runs before a step starts writing to the
    CRM: the daemon uses it to stop a run at a step boundary when it shuts down.

    Results are held until ``flush``, which the runner calls before each step: the results one
    step finished (a deal and the contact made in its call) go in one transaction, and the
    last ones go with the end of the run (``take_held``). A step's result is durable before the
    next step runs, as before."""

    durable = True

    def __init__(
        self,
        store: Store,
        run_id: int,
        attempt: int,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.attempt = attempt
        self.before_write = before_write
        self.records: list[StepRecord] = []
        self.held: list[StepRecord] = []

    async def step_started(self, step_id: str, input: dict[str, Any]) -> None:
        if self.before_write is not None:
            self.before_write()
        await self.flush()
        # Durable before the CRM hears anything: a crash after this point makes the step
        # "resumed" (redone through its duplicate check), never silently skipped.
        await self.store.step_started(self.run_id, step_id, self.attempt, input)

    async def step_finished(self, record: StepRecord) -> None:
        self.records.append(record)
        self.held.append(record)

    async def flush(self) -> None:
        """Store the results held so far, in one transaction."""
        if self.held:
            held, self.held = self.held, []
            await self.store.steps_finished(self.run_id, self.attempt, held)

    def take_held(self) -> list[StepRecord]:
        """The results not stored yet, for the caller to store with the run's end."""
        held, self.held = self.held, []
        return held


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def may_have_written(record: StepRecord) -> bool:
    """A step that failed retriably after sending a write without a clear answer (a timeout, a
    dropped connection, a 5xx): the CRM may have carried it out, as in a crash."""
    return record.error_kind == "retriable" and any(
        str(call.get("method", "")).upper() in WRITES
        and (call.get("status") is None or int(call["status"]) >= 500)
        for call in record.calls
    )


def resume_state(rows: list[StepRow]) -> tuple[dict[str, StepRecord], set[str]]:
    """(finished steps, steps that may have written without a result) from a run's step rows.

    The latest attempt of a step decides; a finished result of an earlier attempt still counts
    (a finished step is never executed again). A step counts as resumed when it started
    writing and has no result (the process died), or failed retriably after a write that may
    have gone through (``may_have_written``).
    """
    done: dict[str, StepRecord] = {}
    latest: dict[str, StepRow] = {}
    for row in rows:  # ordered by attempt
        if row.status != "started" and row.record.finished:
            done[row.step_id] = row.record
        latest[row.step_id] = row
    resumed = {
        step_id
        for step_id, row in latest.items()
        if step_id not in done and (row.status == "started" or may_have_written(row.record))
    }
    return done, resumed


__all__ = ["StoreJournal", "may_have_written", "resume_state"]
