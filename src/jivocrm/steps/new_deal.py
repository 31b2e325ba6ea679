"""new_deal: a deal (amoCRM "сделка") linked to a contact, in a pipeline and stage."""

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
    type="new_deal",
    description="Create a deal linked to a contact; reuse an open one of that contact if asked.",
    params={
        "fields": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": VALUE,
                "pipeline": {**NAME_OR_ID, "description": "Pipeline (Bitrix24: funnel)."},
                "stage": {**NAME_OR_ID, "description": "Stage (amoCRM: status) in the pipeline."},
                "price": VALUE,
                "responsible": NAME_OR_ID,
                "contact": {**VALUE, "description": "The contact's id, e.g. {{ steps.contact.id }}."},
                "custom": {"type": "object", "additionalProperties": VALUE},
                "extra": {"type": "object"},
            },
        },
        "duplicates": duplicates_schema(["contact"], ["contact"]),
    },
    required=("fields",),
    outputs={
        "id": "the deal's id",
        "url": "the deal's page in the CRM",
        "created": "true when a new deal was made",
    },
    example={
        "id": "deal",
        "type": "new_deal",
        "connection": "amo",
        "fields": {
            "name": "Чат Jivo #{{ event.chat_id }}",
            "contact": "{{ steps.contact.id }}",
            "pipeline": "Продажи",
            "stage": "Первичный контакт",
        },
        "duplicates": {"mode": "skip", "match": ["contact"]},
    },
    run=run,
    writes=True,
)
