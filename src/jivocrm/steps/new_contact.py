"""new_contact: a contact from the visitor's data, with a duplicate check by phone and e-mail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jivocrm.connectors.base import Connector, ContactData
from jivocrm.connectors.spec import CONTACTS
from jivocrm.core.i18n import Text
from jivocrm.core.phones import normalize_email, normalize_phone
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import (
    NAME_OR_ID,
    VALUE,
    CrmNames,
    PendingContact,
    StepContext,
    StepResult,
    StepSpec,
    duplicates_schema,
    resumed_note,
)

CONTACT_FIELDS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": VALUE,
        "first_name": VALUE,
        "last_name": VALUE,
        "phone": VALUE,
        "email": VALUE,
        "responsible": {**NAME_OR_ID, "description": "CRM user (name or id)."},
        "custom": {
            "type": "object",
            "description": "Custom fields by name or id → value.",
            "additionalProperties": VALUE,
        },
        "extra": {
            "type": "object",
            "description": "Fields of the CRM's own sent as they are (e.g. a source field).",
        },
    },
}


# Without a `duplicates` key a contact is looked up first: "don't create duplicates" is what
# users of chat-to-CRM integrations expect by default.
DEFAULT_MODE = "skip"
DEFAULT_MATCH = ("phone", "email")
NO_NAME = "Посетитель Jivo"


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def phones_of(value: Any, region: str) -> list[str]:
    """Every value that is a phone number, in E.164, without repeats."""
    found = (normalize_phone(str(v), region) for v in _values(value) if not resolve.blank(v))
    return list(dict.fromkeys(p for p in found if p))


def emails_of(value: Any) -> list[str]:
    found = (normalize_email(str(v)) for v in _values(value) if not resolve.blank(v))
    return list(dict.fromkeys(e for e in found if e))


def _text(value: Any) -> str | None:
    return None if resolve.blank(value) else str(value).strip()


async def contact_data(ctx: StepContext, fields: Mapping[str, Any]) -> ContactData:
    """The mapped fields as ``ContactData``: E.164 phones, lower-case e-mails, resolved ids."""
    data = ContactData(
        name=_text(fields.get("name")),
        first_name=_text(fields.get("first_name")),
        last_name=_text(fields.get("last_name")),
        phones=phones_of(fields.get("phone"), ctx.region),
        emails=emails_of(fields.get("email")),
        responsible_id=await resolve.user_id(ctx, fields.get("responsible")),
        custom=await resolve.custom_fields(ctx, "contact", fields.get("custom")),
        extra=resolve.present(fields.get("extra")),
    )
    if not (data.name or data.first_name or data.last_name):
        parts = [*data.phones, *data.emails]
        data.name = parts[0] if parts else NO_NAME
    return data


def output(
    ctx: StepContext, contact_id: Any, *, created: bool, matched_by: str | None
) -> dict[str, Any]:
    cid = None if contact_id is None else contact_id
    plain_id = cid if isinstance(cid, str) else None
    return {
        "id": cid,
        "url": writing.url(ctx, "contact", plain_id),
        "created": created,
        "matched_by": matched_by,
    }


async def create_now(ctx: StepContext, data: ContactData) -> str:
    """Create the contact on its own (no deal step took it over)."""
    crm = resolve.connector(ctx)
    made = await writing.write(
        ctx, "create_contact", data, lambda: crm.create_contact(data), "contact"
    )
    return made.id


async def _find(
    crm: Connector, match: Sequence[str], phones: list[str], emails: list[str]
) -> list[tuple[str, str]]:
    """(id, matched by) of the contacts holding the phones or e-mails. Where each search is a
    request of its own, the fields are searched in ``match`` order and the first hit ends the
    check: a returning visitor costs one search, not one per field."""
    if crm.search_in_one_call:
        return await crm.find_contact_ids(phones=phones, emails=emails)
    for field in match:
        values = {"phone": phones, "email": emails}.get(field) or []
        if values:
            found = await crm.find_contact_ids(
                phones=values if field == "phone" else [],
                emails=values if field == "email" else [],
            )
            if found:
                return found
    return []


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    crm = resolve.connector(ctx)
    data = await contact_data(ctx, params.get("fields") or {})
    policy = params.get("duplicates") or {}
    mode = policy.get("mode", DEFAULT_MODE)
    match = policy.get("match") or DEFAULT_MATCH
    phones = data.phones if "phone" in match else []
    emails = data.emails if "email" in match else []
    if mode != "create" and (phones or emails):
        await writing.claim_person(ctx, "contact", phones, emails)
        found = await _find(crm, match, phones, emails)
        if found:
            contact_id, by = found[0]
            return await writing.found(
                ctx,
                "contact",
                found[0],
                mode,
                data,
                lambda: crm.update_contact(contact_id, data),
                output(ctx, contact_id, created=False, matched_by=by),
            )
    if mode == "update_only":
        return StepResult(
            "skipped",
            output(ctx, None, created=False, matched_by=None),
            Text("no contact matches; update_only creates none"),
        )
    # A crash between "create" and its record leaves no trace to look up in `create` mode.
    uncertain = ctx.resumed and mode == "create"
    if ctx.defer_contact:
        pending = PendingContact(ctx.step_id, data)
        return StepResult(
            "ok",
            output(ctx, pending, created=True, matched_by=None),
            Text("new contact, created together with the deal{note}", note=resumed_note(uncertain)),
            uncertain=uncertain,
        )
    contact_id = await create_now(ctx, data)
    return StepResult(
        "ok",
        output(ctx, contact_id, created=True, matched_by=None),
        Text("contact {id} created{note}", id=contact_id, note=resumed_note(uncertain)),
        uncertain=uncertain,
    )


SPEC = StepSpec(
    type="new_contact",
    description="Create (or find, or update) a contact.",
    params={
        "fields": CONTACT_FIELDS,
        "duplicates": duplicates_schema(["phone", "email"], ["phone", "email"], DEFAULT_MODE),
    },
    required=("fields",),
    outputs={
        "id": "the contact's id",
        "url": "the contact's page in the CRM",
        "created": "true when a new contact was made",
        "matched_by": "phone or email when an existing contact was found, else null",
    },
    example={
        "id": "contact",
        "type": "new_contact",
        "connection": "amo",
        "fields": {
            "name": "{{ event.visitor.name }}",
            "phone": "{{ event.visitor.phone }}",
            "email": "{{ event.visitor.email }}",
            "responsible": "{{ steps.operator.id }}",
        },
        "duplicates": {"mode": "skip", "match": ["phone", "email"]},
    },
    run=run,
    writes=True,
    needs=CONTACTS,
    writes_pending=lambda ctx, pending: create_now(ctx, pending.data),
    names=CrmNames(users=(("fields", "responsible"),), custom=((("fields", "custom"), "contact"),)),
)
