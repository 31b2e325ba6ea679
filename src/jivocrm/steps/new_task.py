"""new_task: a task for a user, bound to a contact, deal or lead."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.steps.base import NAME_OR_ID, TEXT, VALUE, StepContext, StepResult, StepSpec

ENTITY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"type": {"enum": ["contact", "deal", "lead"]}, "id": VALUE},
    "required": ["type", "id"],
}


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    raise NotImplementedError


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
)
