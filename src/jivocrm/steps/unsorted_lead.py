"""unsorted_lead: an amoCRM "Неразобранное" request that a manager accepts or declines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.steps.base import NAME_OR_ID, TEXT, VALUE, StepContext, StepResult, StepSpec


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    raise NotImplementedError


SPEC = StepSpec(
    type="unsorted_lead",
    description="Put the request into amoCRM's unsorted (Неразобранное) as a form request.",
    params={
        "source_uid": TEXT,
        "source_name": TEXT,
        "pipeline": NAME_OR_ID,
        "lead": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"name": VALUE, "price": VALUE},
        },
        "contact": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": VALUE,
                "first_name": VALUE,
                "last_name": VALUE,
                "phone": VALUE,
                "email": VALUE,
            },
        },
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "form_id": VALUE,
                "form_name": VALUE,
                "form_page": VALUE,
                "ip": VALUE,
                "referer": VALUE,
            },
        },
    },
    required=("source_name", "lead"),
    outputs={"uid": "the unsorted request's uid", "lead_id": "its lead", "contact_id": "its contact"},
    example={
        "id": "unsorted",
        "type": "unsorted_lead",
        "connection": "amo",
        "source_name": "Jivo: {{ event.page.url }}",
        "lead": {"name": "Чат Jivo #{{ event.chat_id }}"},
        "contact": {"name": "{{ event.visitor.name }}", "phone": "{{ event.visitor.phone }}"},
    },
    run=run,
    crms=frozenset({"amocrm"}),
    writes=True,
)
