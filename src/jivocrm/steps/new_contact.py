"""new_contact: a contact from the visitor's data, with a duplicate check by phone and e-mail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.steps.base import (
    NAME_OR_ID,
    VALUE,
    StepContext,
    StepResult,
    StepSpec,
    duplicates_schema,
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
            "description": "CRM-specific fields sent as they are (e.g. Bitrix24 SOURCE_ID).",
        },
    },
}


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    raise NotImplementedError


SPEC = StepSpec(
    type="new_contact",
    description="Create (or find, or update) a contact.",
    params={
        "fields": CONTACT_FIELDS,
        "duplicates": duplicates_schema(["phone", "email"], ["phone", "email"]),
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
)
