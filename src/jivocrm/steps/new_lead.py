"""new_lead: a Bitrix24 lead (amoCRM has no leads apart from deals; use new_deal there)."""

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


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    raise NotImplementedError


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
