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
from jivocrm.connectors.spec import CHAINED_WRITES, NOTES
from jivocrm.core.errors import ConnectorError, StepError
from jivocrm.core.i18n import Text
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import TEXT, PendingDeal, StepContext, StepResult, StepSpec, record_word
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
    pending = (params.get("entity") or {}).get("id")
    if isinstance(pending, PendingDeal):
        return await _with_deal(ctx, crm, params, pending)
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


async def _with_deal(
    ctx: StepContext, crm: Connector, params: Mapping[str, Any], pending: PendingDeal
) -> StepResult:
    """A new deal (with its new contact, if any) and the note on it in ONE CRM call."""
    kind: EntityKind = (params.get("entity") or {}).get("type") or "deal"
    text = str(params.get("text") or "")
    if not text.strip():
        return StepResult("skipped", {"id": None}, Text("the note's text is empty: nothing to add"))
    mark = marker(ctx) if params.get("marker", True) else None
    body = f"{text}\n\n{mark}" if mark else text
    contact = pending.contact
    contact_data = contact.data if contact is not None else None
    try:
        made = await writing.write(
            ctx,
            "create_deal_with_note",
            {"deal": pending.data, "contact": contact_data, "entity": kind, "text": body},
            lambda: crm.create_deal_with_note(pending.data, contact_data, kind, body),
            "note",
        )
    except ConnectorError as exc:
        # The records the call made before its failing part are the pending steps' own.
        pending.deal_id = exc.written.get("deal")
        if contact is not None:
            contact.contact_id = exc.written.get("contact")
        raise
    pending.deal_id = str(made.extra["deal_id"])
    if contact is not None:
        contact.contact_id = made.contact_id
    return StepResult(
        "ok",
        {"id": made.id},
        Text(
            "note {id} added to {kind} {entity}, created with it in one call",
            id=made.id,
            kind=record_word(kind),
            entity=pending.deal_id,
        ),
    )


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
    takes_pending="entity.id",
    takes_pending_of="new_deal",
    takes_pending_needs=CHAINED_WRITES,
)
