"""The runner: one bundle's steps, in order, on one event, with everything recorded.

For each step: ``when`` (truthy) → render params → ``journal.step_started`` before a step that
writes → run it under ``connectors.http.recording()`` → a ``StepRecord`` with the rendered input,
output, CRM calls, error and timings → ``journal.step_finished``.

Errors: a ``RetriableError`` ends the run with status "retry" (steps finished before stay
finished, the daemon retries from the failed one); any other failure fails the step, and then the
run unless the step says ``on_error: continue``.

Resume: ``done`` steps are never executed again — their outputs feed the templates. ``resumed``
steps started before without a result: create steps redo their duplicate check (in ``create``
mode they create again and record "uncertain", a duplicate may exist).

CRM call economy: a ``new_contact`` step that decides to create, followed by a ``new_deal`` step
linking ``{{ steps.<contact>.id }}`` on the same connection, leaves the creation to the deal step,
which makes both in ONE call (``Deferral``). Both steps still get their records and outputs.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

import structlog

from jivocrm.connectors.base import Connector
from jivocrm.connectors.cache import ConnectionCache
from jivocrm.connectors.http import recording
from jivocrm.core.errors import (
    AuthError,
    ConnectorError,
    JivoCRMError,
    RetriableError,
    StepError,
    TemplateError,
)
from jivocrm.core.i18n import Text
from jivocrm.core.records import ErrorKind, RunJournal, RunOutcome, StepRecord
from jivocrm.core.values import truthy
from jivocrm.engine import transcript
from jivocrm.engine.deferral import Deferral, plan_deferrals
from jivocrm.engine.model import Bundle, Project, Step
from jivocrm.engine.reply import merge_replies
from jivocrm.engine.templates import TIMEZONE_KEY, render_async, render_tree_async
from jivocrm.steps import STEPS
from jivocrm.steps.base import PendingContact, StepContext, StepResult
from jivocrm.steps.writing import plain

log = structlog.get_logger("jivocrm.runner")


class StepFailed(Exception):
    """A step failed: carries its record, already finished in the journal."""

    def __init__(self, record: StepRecord, retry_after: float | None = None) -> None:
        super().__init__(record.error)
        self.record = record
        self.retry_after = retry_after


def jsonable(value: Any) -> Any:
    """Rendered values as the journal stores them: a pending contact becomes its description."""
    if isinstance(value, PendingContact):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return plain(value)


def classify(exc: BaseException) -> ErrorKind:
    if isinstance(exc, RetriableError):
        return "retriable"
    if isinstance(exc, AuthError):
        return "auth"
    if isinstance(exc, ConnectorError):
        return "fatal"
    if isinstance(exc, TemplateError):
        return "template"
    if isinstance(exc, (StepError, NotImplementedError)):
        return "step"
    return "fatal"


def where(step: Step) -> str:
    return f"steps[{step.index}] ({step.id})"


class Runner:
    """Executes bundles of ``project`` through ``connectors`` (one per connection name)."""

    def __init__(
        self,
        project: Project,
        connectors: Mapping[str, Connector],
        caches: Mapping[str, ConnectionCache] | None = None,
    ) -> None:
        self.project = project
        self.connectors = dict(connectors)
        self.caches = dict(caches) if caches is not None else {}
        for name in self.connectors:
            self.caches.setdefault(name, ConnectionCache(name))

    async def execute(
        self,
        bundle: Bundle,
        event: Mapping[str, Any],
        *,
        journal: RunJournal,
        done: Mapping[str, StepRecord] | None = None,
        resumed: set[str] | None = None,
        dry_run: bool = False,
        run_info: Mapping[str, Any] | None = None,
    ) -> RunOutcome:
        run = _Run(self, bundle, event, journal, done or {}, resumed or set(), dry_run, run_info)
        return await run.execute()


class _Run:
    """The state of one execution: the template context, records, deferred contacts."""

    def __init__(
        self,
        runner: Runner,
        bundle: Bundle,
        event: Mapping[str, Any],
        journal: RunJournal,
        done: Mapping[str, StepRecord],
        resumed: set[str],
        dry_run: bool,
        run_info: Mapping[str, Any] | None,
    ) -> None:
        self.runner, self.bundle, self.event, self.journal = runner, bundle, event, journal
        self.done = {k: r for k, r in done.items() if r.finished}
        self.resumed, self.dry_run = resumed, dry_run
        self.info = dict(run_info or {})
        self.now = dt.datetime.now(transcript.zone(runner.project.timezone))
        self.outputs: dict[str, dict[str, Any]] = {k: dict(r.output) for k, r in self.done.items()}
        self.context: dict[str, Any] = {
            "event": dict(event),
            "steps": self.outputs,
            "bundle": {"name": bundle.name, "version": bundle.version_hash},
            "run": self.info,
            "now": self.now,
            TIMEZONE_KEY: runner.project.timezone,
        }
        self.records: list[StepRecord] = []
        self.deferrals: dict[str, Deferral] = plan_deferrals(bundle, self.done, resumed)
        self.waiting: dict[str, tuple[Deferral, StepRecord, StepContext]] = {}
        self.log = log.bind(run_id=self.info.get("id"), bundle=bundle.name)

    async def execute(self) -> RunOutcome:
        for step in self.bundle.steps:
            if step.id in self.done:
                continue
            try:
                await self.step(step)
                await self.settle(step)
            except StepFailed as failed:
                return await self.stop(step, failed)
        return RunOutcome("succeeded", steps=self.records, reply=self.reply())

    def reply(self) -> dict[str, Any] | None:
        replies = [
            out["reply"]
            for s in self.bundle.steps
            if STEPS[s.type].reply and isinstance((out := self.outputs.get(s.id)), dict)
            if isinstance(out.get("reply"), dict)
        ]
        return merge_replies(replies) if replies else None

    async def stop(self, step: Step, failed: StepFailed) -> RunOutcome:
        record = failed.record
        if record.error_kind == "retriable":
            self.log.info("run_retry", step=step.id, retry_after=failed.retry_after)
            return RunOutcome(
                "retry",
                steps=self.records,
                error=record.error,
                error_kind="retriable",
                retry_after=failed.retry_after,
            )
        # The contacts decided on before the failure are still owed to the CRM.
        try:
            await self.settle(None)
        except StepFailed as other:
            self.log.warning("deferred_contact_failed", error=other.record.error)
        self.log.info("run_failed", step=step.id, error=record.error)
        return RunOutcome(
            "failed", steps=self.records, error=record.error, error_kind=record.error_kind
        )

    # ---- one step ------------------------------------------------------------------------------
    async def step(self, step: Step) -> None:
        spec = STEPS[step.type]
        record = StepRecord(step.id, "ok", attempt=int(self.info.get("attempt", 1)))
        record.started_at = time.time()
        slog = self.log.bind(step=step.id)
        try:
            if step.when is not None and not truthy(await render_async(step.when, self.context)):
                record.status = "skipped"
                record.message = Text("when: {when} is false", when=repr(step.when))
                record.output = dict.fromkeys(spec.outputs)
                await self.finish(step, record)
                return
            params = await render_tree_async(step.params, self.context)
            record.input = jsonable(params)
            ctx = self.step_context(step)
            if spec.writes and not self.dry_run:
                await self.journal.step_started(step.id, record.input)
            slog.debug("step_started")
            with recording() as calls:
                try:
                    result = await spec.run(ctx, params)
                finally:
                    record.calls = [c.as_dict() for c in calls.calls]
                    record.would_send = ctx.would_send
        except Exception as exc:  # every failure becomes a record; the kind decides the rest
            await self.failed(step, record, exc)
            return
        self.apply(record, result)
        pending = result.output.get("id")
        if isinstance(pending, PendingContact) and step.id in self.deferrals:
            # Recorded once the deal step has made the contact (or it is made alone).
            self.outputs[step.id] = dict(result.output)
            self.waiting[step.id] = (self.deferrals[step.id], record, ctx)
            slog.info("contact_deferred", to=self.deferrals[step.id].deal)
            return
        await self.finish(step, record)

    def step_context(self, step: Step) -> StepContext:
        connector = self.runner.connectors.get(step.connection) if step.connection else None
        if step.connection and connector is None:
            raise StepError(f"connection {step.connection!r} is not open")
        return StepContext(
            step_id=step.id,
            bundle=self.bundle.name,
            connector=connector,
            cache=self.runner.caches.get(step.connection) if step.connection else None,
            dry_run=self.dry_run,
            resumed=step.id in self.resumed,
            region=self.runner.project.region,
            event=self.event,
            now=self.now,
            run_id=str(self.info["id"]) if self.info.get("id") is not None else None,
            defer_contact=step.id in self.deferrals,
            durable=bool(getattr(self.journal, "durable", False)),
        )

    def apply(self, record: StepRecord, result: StepResult) -> None:
        record.status = "uncertain" if result.uncertain else result.status
        record.output = dict(result.output)
        record.message = result.message
        if result.status == "failed":
            record.error = result.message or Text("the step failed")

    async def finish(self, step: Step, record: StepRecord) -> None:
        record.finished_at = time.time()
        record.output = jsonable(record.output)
        self.outputs[step.id] = record.output
        self.records.append(record)
        await self.journal.step_finished(record)
        self.log.info("step_finished", step=step.id, status=record.status, calls=len(record.calls))
        if record.status == "failed" and step.on_error != "continue":
            raise StepFailed(record)

    async def failed(self, step: Step, record: StepRecord, exc: Exception) -> None:
        kind = classify(exc)
        text = str(exc) or type(exc).__name__
        if kind == "fatal" and not isinstance(exc, JivoCRMError):
            self.log.exception("step_crashed", step=step.id)
            text = f"{type(exc).__name__}: {text}"
        spoken = isinstance(exc, JivoCRMError) and len(exc.args) == 1
        said = exc.args[0] if spoken and isinstance(exc.args[0], Text) else text
        record.status = "failed"
        record.error = Text("{where}: {error}", where=where(step), error=said)
        record.output = dict.fromkeys(STEPS[step.type].outputs)
        if kind == "retriable" or step.on_error != "continue":
            record.error_kind = kind
        else:
            record.message = Text("{kind} error; on_error: continue, so the run went on", kind=kind)
        self.log.warning("step_failed", step=step.id, kind=kind, error=text)
        retry_after = exc.retry_after if isinstance(exc, RetriableError) else None
        if kind == "retriable":
            record.finished_at = time.time()
            self.records.append(record)
            await self.journal.step_finished(record)
            raise StepFailed(record, retry_after)
        await self.finish(step, record)

    # ---- deferred contacts ---------------------------------------------------------------------
    async def settle(self, step: Step | None) -> None:
        """After the deal step (or on the way out): record contacts made with it, make the rest."""
        for contact_step_id, (deferral, record, ctx) in list(self.waiting.items()):
            if step is not None and step.id != deferral.deal:
                continue
            del self.waiting[contact_step_id]
            pending = record.output["id"]
            assert isinstance(pending, PendingContact)
            contact_step = self.bundle.step(contact_step_id)
            assert contact_step is not None
            merged: dict[str, Any] = {}
            if pending.contact_id is None:
                await self.create_alone(contact_step, record, ctx, pending)
            elif pending.merged:
                record.message = Text(
                    "the CRM's duplicate control found contact {contact}: it took the "
                    "request of steps.{deal} instead of a new contact",
                    contact=pending.contact_id,
                    deal=deferral.deal,
                )
                merged = {"created": False, "matched_by": "crm"}
            else:
                record.message = Text(
                    "contact {contact} created together with steps.{deal} in one CRM call",
                    contact=pending.contact_id,
                    deal=deferral.deal,
                )
            record.output = {
                **record.output,
                "id": pending.contact_id,
                "url": _url(ctx, pending.contact_id),
                **merged,
            }
            self.records_insert(record)
            await self.finish_deferred(contact_step, record)

    def records_insert(self, record: StepRecord) -> None:
        """Place the contact's record before the deal's: the order the steps are written in."""
        mine = self._index(record.step_id)
        later = [i for i, r in enumerate(self.records) if self._index(r.step_id) > mine]
        self.records.insert(later[0] if later else len(self.records), record)

    def _index(self, step_id: str) -> int:
        found = self.bundle.step(step_id)
        return found.index if found else -1

    async def finish_deferred(self, step: Step, record: StepRecord) -> None:
        record.finished_at = time.time()
        record.output = jsonable(record.output)
        self.outputs[step.id] = record.output
        await self.journal.step_finished(record)
        if record.status == "failed" and step.on_error != "continue":
            raise StepFailed(record)

    async def create_alone(
        self, step: Step, record: StepRecord, ctx: StepContext, pending: PendingContact
    ) -> None:
        write = STEPS[step.type].writes_pending
        assert write is not None  # only a step whose spec defers writes leaves one pending
        ctx.defer_contact = False
        with recording() as calls:
            try:
                pending.contact_id = await write(ctx, pending.data)
                record.message = Text("contact {id} created{note}", id=pending.contact_id, note="")
            except Exception as exc:
                record.status, record.error = "failed", f"{where(step)}: {exc}"
                record.error_kind = classify(exc)
            finally:
                record.calls += [c.as_dict() for c in calls.calls]
                record.would_send = ctx.would_send


def _url(ctx: StepContext, contact_id: str | None) -> str | None:
    from jivocrm.steps.writing import url

    return url(ctx, "contact", contact_id)


__all__ = ["Runner", "classify", "jsonable"]
