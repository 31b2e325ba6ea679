"""add_note: a note on a record (amoCRM note, Bitrix24 timeline comment), e.g. the transcript."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.steps.base import TEXT, StepContext, StepResult, StepSpec
from jivocrm.steps.new_task import ENTITY


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    raise NotImplementedError


SPEC = StepSpec(
    type="add_note",
    description="Add a text note to a contact, deal or lead.",
    params={"entity": ENTITY, "text": TEXT},
    required=("entity", "text"),
    outputs={"id": "the note's id"},
    example={
        "id": "transcript",
        "type": "add_note",
        "connection": "amo",
        "entity": {"type": "deal", "id": "{{ steps.deal.id }}"},
        "text": "{{ event.transcript }}",
    },
    run=run,
    writes=True,
)
