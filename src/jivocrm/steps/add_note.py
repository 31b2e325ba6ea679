"""add_note: a note on a record (amoCRM note, Bitrix24 timeline comment), e.g. the transcript."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.errors import StepError
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import TEXT, StepContext, StepResult, StepSpec
from jivocrm.steps.new_task import ENTITY, entity_of


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    crm = resolve.connector(ctx)
    kind, entity_id = entity_of(params)
    if entity_id is None:
        raise StepError(f"entity: the {kind} id is empty; did the step that makes it run?")
    text = str(params.get("text") or "")
    if not text.strip():
        return StepResult("skipped", {"id": None}, "the note's text is empty: nothing to add")
    made = await writing.write(
        ctx,
        "add_note",
        {"entity": kind, "id": entity_id, "text": text},
        lambda: crm.add_note(kind, entity_id, text),
        "note",
    )
    return StepResult("ok", {"id": made.id}, f"note {made.id} added to {kind} {entity_id}")


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
