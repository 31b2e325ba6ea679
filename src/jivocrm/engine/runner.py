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
which makes both in ONE call (``Deferral``). On a CRM that chains a run's writes
(``CHAINED_WRITES``) the deal step leaves its creation to an ``add_note`` on the deal in turn:
contact, deal and note are one call. Every step still gets its record and outputs.

Journal: the runner calls ``journal.flush()`` (where the journal has it) before each step, so
the results of the step before are durable before this one runs.
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
from jivocrm.steps.base import PendingContact, PendingDeal, StepContext, StepResult
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
    if isinstance(value, PendingContact | PendingDeal):
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
        self.deferrals: dict[str, Deferral] = plan_deferrals(
            bundle, self.done, resumed, None if dry_run else self.able
        )
        self.waiting: dict[str, tuple[Deferral, StepRecord, StepContext]] = {}
        self.log = log.bind(run_id=self.info.get("id"), bundle=bundle.name)

    async def execute(self) -> RunOutcome:
        try:
            for step in self.bundle.steps:
                if step.id in self.done:
                    continue
                try:
                    await self.step(step)
                    await self.settle(step)
                except StepFailed as failed:
                    return await self.stop(step, failed)
            return RunOutcome("succeeded", steps=self.records, reply=self.reply())
        finally:
            for cache in self.runner.caches.values():
                await cache.claims.release(self)

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
        flush = getattr(self.journal, "flush", None)
        if flush is not None:
            await flush()  # the results so far are durable before this step runs
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
        if isinstance(pending, PendingContact | PendingDeal) and step.id in self.deferrals:
            # Recorded once the deal step has made the contact (or it is made alone).
            self.outputs[step.id] = dict(result.output)
            self.waiting[step.id] = (self.deferrals[step.id], record, ctx)
            what = "contact_deferred" if isinstance(pending, PendingContact) else "deal_deferred"
            slog.info(what, to=self.deferrals[step.id].deal)
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
            defer_deal=step.id in self.deferrals,
            durable=bool(getattr(self.journal, "durable", False)),
            holder=self,
        )

    def able(self, step: Step, capability: str) -> bool:
        """Whether the CRM of ``step``'s connection has ``capability`` (its spec says so)."""
        from jivocrm.connectors import CONNECTORS

        connector = self.runner.connectors.get(step.connection or "")
        spec = CONNECTORS.get(connector.type) if connector is not None else None
        return spec is not None and capability in spec.capabilities

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
        """After the step that took pending writes (or on the way out): record the steps whose
        writes it made, make the rest. A chain settles from its end: the deal, then its contact."""
        later_first = sorted(self.waiting, key=self._index, reverse=True)
        for waiting_id in later_first:
            if waiting_id not in self.waiting:
                continue
            deferral, record, ctx = self.waiting[waiting_id]
            if step is not None and (step.id != deferral.deal or step.id in self.waiting):
                continue
            del self.waiting[waiting_id]
            waiting_step = self.bundle.step(waiting_id)
            assert waiting_step is not None
            pending = record.output["id"]
            if isinstance(pending, PendingDeal):
                await self.settle_deal(waiting_step, deferral, record, ctx, pending)
            else:
                assert isinstance(pending, PendingContact)
                await self.settle_contact(waiting_step, deferral, record, ctx, pending)
            self.records_insert(record)
            await self.finish_deferred(waiting_step, record)
            if step is not None:
                await self.settle(waiting_step)  # the contact the deal was made with

    async def settle_deal(
        self,
        deal_step: Step,
        deferral: Deferral,
        record: StepRecord,
        ctx: StepContext,
        pending: PendingDeal,
    ) -> None:
        if pending.deal_id is None:
            await self.create_alone(deal_step, record, ctx, pending)
            if pending.deal_id is not None:
                record.message = Text("deal {id} created", id=pending.deal_id)
        else:
            record.message = Text(
                "deal {deal_id} created together with steps.{step} in one CRM call",
                deal_id=pending.deal_id,
                step=deferral.deal,
            )
        record.output = {
            **record.output,
            "id": pending.deal_id,
            "url": writing_url(ctx, "deal", pending.deal_id),
        }

    async def settle_contact(
        self,
        contact_step: Step,
        deferral: Deferral,
        record: StepRecord,
        ctx: StepContext,
        pending: PendingContact,
    ) -> None:
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
        self,
        step: Step,
        record: StepRecord,
        ctx: StepContext,
        pending: PendingContact | PendingDeal,
    ) -> None:
        write = STEPS[step.type].writes_pending
        assert write is not None  # only a step whose spec defers writes leaves one pending
        ctx.defer_contact = ctx.defer_deal = False
        with recording() as calls:
            try:
                made = await write(ctx, pending)
                if isinstance(pending, PendingContact):
                    pending.contact_id = made
                    record.message = Text(
                        "contact {id} created{note}", id=pending.contact_id, note=""
                    )
            except Exception as exc:
                record.status, record.error = "failed", f"{where(step)}: {exc}"
                record.error_kind = classify(exc)
            finally:
                record.calls += [c.as_dict() for c in calls.calls]
                record.would_send = ctx.would_send


def _url(ctx: StepContext, contact_id: str | None) -> str | None:
    return writing_url(ctx, "contact", contact_id)


def writing_url(ctx: StepContext, kind: str, record_id: str | None) -> str | None:
    from jivocrm.steps.writing import url

    return url(ctx, kind, record_id)


__all__ = ["Runner", "classify", "jsonable"]
