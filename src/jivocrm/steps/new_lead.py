"""new_lead: a Bitrix24 lead (amoCRM has no leads apart from deals; use new_deal there)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.base import LeadData
from jivocrm.errors import StepError
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import (
    NAME_OR_ID,
    VALUE,
    StepContext,
    StepResult,
    StepSpec,
    duplicates_schema,
)
from jivocrm.steps.new_contact import emails_of, phones_of


def _text(value: Any) -> str | None:
    return None if resolve.blank(value) else str(value)


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    crm = resolve.connector(ctx)
    fields = params.get("fields") or {}
    mode = (params.get("duplicates") or {}).get("mode", "create")
    if mode != "create":
        # The connector interface has no lead search; refusing beats silently creating.
        raise StepError(
            f"new_lead: duplicates mode {mode!r} is not supported for leads; use mode create, "
            "or new_contact with duplicates for the person"
        )
    contact = fields.get("contact")
    data = LeadData(
        title=_text(fields.get("title")),
        name=_text(fields.get("name")),
        last_name=_text(fields.get("last_name")),
        phones=phones_of(fields.get("phone"), ctx.region),
        emails=emails_of(fields.get("email")),
        status_id=_text(fields.get("status")),
        source_id=_text(fields.get("source")),
        responsible_id=await resolve.user_id(ctx, fields.get("responsible")),
        comments=_text(fields.get("comments")),
        contact_id=None if resolve.blank(contact) else str(contact),
        custom=await resolve.custom_fields(ctx, "lead", fields.get("custom")),
        extra=dict(fields.get("extra") or {}),
    )
    if data.title is None:
        data.title = data.name or "Jivo"
    uncertain = ctx.resumed
    made = await writing.write(ctx, "create_lead", data, lambda: crm.create_lead(data), "lead")
    note = " (resumed: a duplicate from the interrupted try may exist)" if uncertain else ""
    return StepResult(
        "ok",
        {"id": made.id, "url": writing.url(ctx, "lead", made.id), "created": True},
        f"lead {made.id} created{note}",
        uncertain=uncertain,
    )


SPEC = StepSpec(
    type="new_lead",
    description="Create a Bitrix24 lead from the visitor's data.",
    params={
        "fields": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "title": VALUE,
                "name": VALUE,
                "last_name": VALUE,
                "phone": VALUE,
                "email": VALUE,
                "status": {**NAME_OR_ID, "description": "Lead status, e.g. NEW."},
                "source": VALUE,
                "responsible": NAME_OR_ID,
                "comments": VALUE,
                "contact": VALUE,
                "custom": {"type": "object", "additionalProperties": VALUE},
                "extra": {"type": "object"},
            },
        },
        "duplicates": duplicates_schema(["phone", "email"], ["phone", "email"]),
    },
    required=("fields",),
    outputs={"id": "the lead's id", "url": "the lead's page", "created": "true when made"},
    example={
        "id": "lead",
        "type": "new_lead",
        "connection": "b24",
        "fields": {
            "title": "Заявка из чата Jivo #{{ event.chat_id }}",
            "name": "{{ event.visitor.name }}",
            "phone": "{{ event.visitor.phone }}",
        },
    },
    run=run,
    crms=frozenset({"bitrix24"}),
    writes=True,
)
