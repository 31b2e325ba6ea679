"""The one gate every CRM write of a step goes through: dry run, the journal mark, placeholders.

With ``--dry-run`` a write is recorded in ``StepContext.would_send`` and not sent; the step gets
a placeholder id that says so (``dry-run:new-contact``), so later steps can still render.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from jivocrm.connectors.base import Created
from jivocrm.core.i18n import Text
from jivocrm.steps.base import StepContext, StepResult, record_word

DRY_RUN_PREFIX = "dry-run:"


def placeholder(what: str) -> str:
    return f"{DRY_RUN_PREFIX}new-{what}"


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(DRY_RUN_PREFIX)


def plain(value: Any) -> Any:
    """Dataclasses, datetimes and tuples as JSON-friendly values, for reports and journals."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


async def write(
    ctx: StepContext,
    op: str,
    payload: Any,
    call: Callable[[], Awaitable[Created]],
    what: str,
) -> Created:
    """Send one write, or in a dry run record it and return a placeholder of ``what``."""
    if ctx.dry_run:
        ctx.would_send.append({"op": op, "data": plain(payload)})
        return Created(placeholder(what))
    if ctx.mark_started is not None:
        await ctx.mark_started()
    return await call()


async def update(
    ctx: StepContext, op: str, payload: Any, call: Callable[[], Awaitable[None]]
) -> None:
    if ctx.dry_run:
        ctx.would_send.append({"op": op, "data": plain(payload)})
        return
    if ctx.mark_started is not None:
        await ctx.mark_started()
    await call()


async def found(
    ctx: StepContext,
    what: str,
    record: tuple[str, str],
    mode: str,
    payload: Any,
    call: Callable[[], Awaitable[None]],
    output: dict[str, Any],
) -> StepResult:
    """The duplicate check found ``record`` (id, matched by): kept under ``skip``, else updated."""
    record_id, by = record
    if mode == "skip":
        return StepResult(
            "ok",
            output,
            Text(
                "{what} {id} found by {by}; kept as it is (duplicates: skip)",
                what=record_word(what),
                id=record_id,
                by=by,
            ),
        )
    await update(ctx, f"update_{what}", {"id": record_id, **plain(payload)}, call)
    return StepResult(
        "ok",
        output,
        Text(
            "{what} {id} found by {by} and updated (duplicates: {mode})",
            what=record_word(what),
            id=record_id,
            by=by,
            mode=mode,
        ),
    )


def url(ctx: StepContext, kind: Any, entity_id: str | None) -> str | None:
    if ctx.connector is None or not entity_id or is_placeholder(entity_id):
        return None
    link: str = ctx.connector.entity_url(kind, entity_id)
    return link


__all__ = ["found", "is_placeholder", "placeholder", "plain", "update", "url", "write"]


async def claim_person(
    ctx: StepContext, kind: str, phones: Sequence[str], emails: Sequence[str]
) -> None:
    """Hold the person's phones and e-mails on this connection until the run ends, before looking
    them up: a run of another lane matching the same person waits for this one's write and then
    finds it, so two chats of one new visitor make one record, not two."""
    if ctx.cache is None or ctx.holder is None or ctx.dry_run:
        return
    keys = [f"{kind}:phone:{p}" for p in phones] + [f"{kind}:email:{e}" for e in emails]
    if keys:
        await ctx.cache.claims.claim(ctx.holder, keys)
