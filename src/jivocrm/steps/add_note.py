"""add_note: a note on a record (a note, a timeline comment), e.g. the transcript.

Exactly once across crashes: neither CRM takes an idempotency key, and a note step that the CRM
carried out just before the process died has no result in the journal. So a note written by the
daemon ends with a marker line naming its run and step (``— jivocrm run 42 · transcript``), and a
resumed step first looks for that marker among the record's newest notes; only if it is not
there is the note written (again). ``marker: false`` leaves the line out: a resumed step then
writes again and says a duplicate may exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.base import Connector, EntityKind
from jivocrm.connectors.spec import NOTES
from jivocrm.core.errors import StepError
from jivocrm.core.i18n import Text
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import TEXT, StepContext, StepResult, StepSpec, record_word
from jivocrm.steps.new_task import ENTITY, entity_of


def marker(ctx: StepContext) -> str | None:
    """The line that names the note's run and step, for runs the daemon may resume."""
    if not ctx.durable or not ctx.run_id:
        return None
    return f"— jivocrm run {ctx.run_id} · {ctx.step_id}"


async def written_before(
    crm: Connector, kind: EntityKind, entity_id: str, mark: str
) -> str | bool | None:
    """The id of the record's note that ends with ``mark``; None when there is none; False
    when the CRM cannot list notes."""
    try:
        notes = await crm.recent_notes(kind, entity_id)
    except NotImplementedError:
        return False
    return next((n.id for n in notes if n.text.rstrip().endswith(mark)), None)


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    crm = resolve.connector(ctx)
    kind, entity_id = entity_of(params)
    if entity_id is None:
        raise StepError(
            Text(
                "entity: the {kind} id is empty; did the step that makes it run?",
                kind=record_word(kind),
            )
        )
    text = str(params.get("text") or "")
    if not text.strip():
        return StepResult("skipped", {"id": None}, Text("the note's text is empty: nothing to add"))
    mark = marker(ctx) if params.get("marker", True) else None
    uncertain = False
    if ctx.resumed and not ctx.dry_run:
        found = await written_before(crm, kind, entity_id, mark) if mark else False
        if isinstance(found, str):
            return StepResult(
                "ok",
                {"id": found},
                Text(
                    "note {id} on {kind} {entity} was written before the interruption; "
                    "not written again",
                    id=found,
                    kind=record_word(kind),
                    entity=entity_id,
                ),
            )
        uncertain = found is False  # no way to look: a duplicate note may exist
    body = f"{text}\n\n{mark}" if mark else text
    made = await writing.write(
        ctx,
        "add_note",
        {"entity": kind, "id": entity_id, "text": body},
        lambda: crm.add_note(kind, entity_id, body),
        "note",
    )
    message = Text(
        "note {id} added to {kind} {entity}{note}",
        id=made.id,
        kind=record_word(kind),
        entity=entity_id,
        note=Text(" (resumed: the interrupted try may have added it too)") if uncertain else "",
    )
    return StepResult("ok", {"id": made.id}, message, uncertain=uncertain)


SPEC = StepSpec(
    type="add_note",
    description="Add a text note to a contact, deal or lead.",
    params={
        "entity": ENTITY,
        "text": TEXT,
        "marker": {
            "type": "boolean",
            "default": True,
            "description": "End the note the daemon writes with a line naming its run and "
            "step, so a run resumed after a crash finds the note instead of writing it twice.",
        },
    },
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
    needs=NOTES,
)
