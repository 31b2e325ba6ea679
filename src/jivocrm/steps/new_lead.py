"""new_lead: a lead, for a CRM that keeps leads apart from deals (``connectors.spec.LEADS``; in
others use new_deal)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jivocrm.connectors.base import LeadData
from jivocrm.connectors.spec import LEADS
from jivocrm.core.i18n import Text
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import (
    NAME_OR_ID,
    VALUE,
    CrmNames,
    StepContext,
    StepResult,
    StepSpec,
    duplicates_schema,
    resumed_note,
)
from jivocrm.steps.new_contact import emails_of, phones_of

# Every chat is its own lead unless the bundle asks to look for the visitor's earlier one.
DEFAULT_MODE = "create"
MATCH = ("phone", "email")


def _text(value: Any) -> str | None:
    return None if resolve.blank(value) else str(value)


async def lead_data(ctx: StepContext, fields: Mapping[str, Any]) -> LeadData:
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
        extra=resolve.present(fields.get("extra")),
    )
    if data.title is None:
        data.title = data.name or "Jivo"
    return data


def _output(ctx: StepContext, lead_id: str | None, created: bool, by: str | None) -> dict[str, Any]:
    return {
        "id": lead_id,
        "url": writing.url(ctx, "lead", lead_id),
        "created": created,
        "matched_by": by,
    }


async def _found(ctx: StepContext, match: Sequence[str], data: LeadData) -> tuple[str, str] | None:
    """The oldest lead holding the visitor's phone or e-mail (the CRM searches leads as it
    does contacts: one request for both)."""
    phones = data.phones if "phone" in match else []
    emails = data.emails if "email" in match else []
    if not (phones or emails):
        return None
    await writing.claim_person(ctx, "lead", phones, emails)
    found = await resolve.connector(ctx).find_lead_ids(phones=phones, emails=emails)
    return found[0] if found else None


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    crm = resolve.connector(ctx)
    data = await lead_data(ctx, params.get("fields") or {})
    policy = params.get("duplicates") or {}
    mode = policy.get("mode", DEFAULT_MODE)
    found = None if mode == "create" else await _found(ctx, policy.get("match") or MATCH, data)
    if found is not None:
        lead_id, by = found
        return await writing.found(
            ctx,
            "lead",
            found,
            mode,
            data,
            lambda: crm.update_lead(lead_id, data),
            _output(ctx, lead_id, False, by),
        )
    if mode == "update_only":
        return StepResult(
            "skipped",
            _output(ctx, None, False, None),
            Text("no lead matches; update_only creates none"),
        )
    uncertain = ctx.resumed and mode == "create"
    made = await writing.write(ctx, "create_lead", data, lambda: crm.create_lead(data), "lead")
    return StepResult(
        "ok",
        _output(ctx, made.id, True, None),
        Text("lead {id} created{note}", id=made.id, note=resumed_note(uncertain)),
        uncertain=uncertain,
    )


SPEC = StepSpec(
    type="new_lead",
    description="Create a lead from the visitor's data.",
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
    outputs={
        "id": "the lead's id",
        "url": "the lead's page",
        "created": "true when a new lead was made",
        "matched_by": "phone or email when an existing lead was found, else null",
    },
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
    writes=True,
    needs=LEADS,
    names=CrmNames(users=(("fields", "responsible"),), custom=((("fields", "custom"), "lead"),)),
)
