"""The contract between the runner and whoever keeps its record (the store, or memory for `run`).

The runner calls ``step_started`` before a step that writes to a CRM sends anything, and
``step_finished`` after every step. On resume it receives the records of finished steps (never run
again) and the ids of steps that started without finishing (redone through their duplicate check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

StepStatus = Literal["ok", "skipped", "failed", "uncertain"]
ErrorKind = Literal["retriable", "auth", "fatal", "step", "template"]
RunStatus = Literal["succeeded", "failed", "retry", "not_matched"]


@dataclass
class StepRecord:
    step_id: str
    status: StepStatus
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)  # CallRecord.as_dict()
    error: str | None = None
    error_kind: ErrorKind | None = None
    message: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    attempt: int = 1
    # --dry-run: the writes the step would have sent (nothing was sent).
    would_send: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """A step whose result counts: it is not executed again on resume."""
        return self.status in ("ok", "skipped", "uncertain") or (
            self.status == "failed" and self.error_kind is None
        )


@dataclass
class RunOutcome:
    status: RunStatus
    steps: list[StepRecord] = field(default_factory=list)
    error: str | None = None
    error_kind: ErrorKind | None = None
    retry_after: float | None = None  # the CRM's wait hint, when it gave one
    reply: dict[str, Any] | None = None  # merged jivo_reply output, if any


class RunJournal(Protocol):
    # True when the records outlive the process, so a run may resume after a crash: steps
    # then mark what they write so a resumed step can find it (add_note's marker).
    durable: bool

    async def step_started(self, step_id: str, input: dict[str, Any]) -> None: ...

    async def step_finished(self, record: StepRecord) -> None: ...

    # A journal may hold results to store several in one transaction; ``flush`` (called
    # before each step) stores what it holds. Optional: a journal without it stores at once.


class MemoryJournal:
    """Keeps the records in memory: for `jivocrm run`, `jivocrm test` and tests."""

    durable = False

    def __init__(self) -> None:
        self.started: list[str] = []
        self.records: list[StepRecord] = []

    async def step_started(self, step_id: str, input: dict[str, Any]) -> None:
        self.started.append(step_id)

    async def step_finished(self, record: StepRecord) -> None:
        self.records.append(record)
