"""new_task: a task for a user, bound to a contact, deal or lead."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.base import TaskData
from jivocrm.connectors.spec import TASKS
from jivocrm.core.errors import StepError
from jivocrm.core.i18n import Text
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import (
    NAME_OR_ID,
    TEXT,
    VALUE,
    CrmNames,
    StepContext,
    StepResult,
    StepSpec,
    record_word,
)

ENTITY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"type": {"enum": ["contact", "deal", "lead"]}, "id": VALUE},
    "required": ["type", "id"],
}


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def due_at(value: Any, now: dt.datetime) -> dt.datetime:
    """``30m``/``2h``/``1d``/``1w`` after ``now``, an ISO date or date-time, or Unix seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    text = str(value or "").strip()
    found = DURATION.match(text)
    if found:
        return now + dt.timedelta(seconds=float(found[1]) * UNITS[found[2].lower()])
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise StepError(
            Text(
                "due: {value} is neither a duration (30m, 2h, 1d, 1w) nor an ISO date",
                value=repr(value),
            )
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo or dt.UTC)
    return moment


def entity_of(params: Mapping[str, Any]) -> tuple[Any, str | None]:
    entity = params.get("entity") or {}
    entity_id = entity.get("id")
    if resolve.blank(entity_id):
        return entity.get("type"), None
    return entity.get("type"), str(entity_id)


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    crm = resolve.connector(ctx)
    kind, entity_id = entity_of(params)
    if params.get("entity") and entity_id is None:
        raise StepError(
            Text(
                "entity: the {kind} id is empty; did the step that makes it run?",
                kind=record_word(kind),
            )
        )
    data = TaskData(
        text=str(params.get("text") or ""),
        due=due_at(params.get("due"), ctx.now),
        responsible_id=await resolve.user_id(ctx, params.get("responsible")),
        entity_kind=kind if entity_id else None,
        entity_id=entity_id,
        title=None if resolve.blank(params.get("title")) else str(params["title"]),
    )
    made = await writing.write(ctx, "create_task", data, lambda: crm.create_task(data), "task")
    return StepResult(
        "ok", {"id": made.id}, Text("task {id} due {due}", id=made.id, due=data.due.isoformat())
    )


SPEC = StepSpec(
    type="new_task",
    description="Create a task (e.g. call the visitor back), due after a duration or at a date.",
    params={
        "text": TEXT,
        "title": TEXT,
        "due": {
            **VALUE,
            "description": "A duration (30m, 2h, 1d) from now, or a date/time (ISO 8601).",
        },
        "responsible": NAME_OR_ID,
        "entity": ENTITY,
    },
    required=("text", "due"),
    outputs={"id": "the task's id"},
    example={
        "id": "callback",
        "type": "new_task",
        "connection": "amo",
        "text": "Перезвонить: {{ event.visitor.name }}",
        "due": "1d",
        "responsible": "{{ steps.operator.id }}",
        "entity": {"type": "deal", "id": "{{ steps.deal.id }}"},
    },
    run=run,
    writes=True,
    needs=TASKS,
    names=CrmNames(users=(("responsible",),)),
)
