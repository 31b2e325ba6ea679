"""unsorted_lead: an «Неразобранное» request that a manager accepts or declines, for a CRM with
an inbox of requests (``connectors.spec.UNSORTED``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.base import UnsortedData
from jivocrm.connectors.spec import UNSORTED
from jivocrm.core.i18n import Text
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import (
    NAME_OR_ID,
    TAGS,
    TEXT,
    VALUE,
    CrmNames,
    StepContext,
    StepResult,
    StepSpec,
)
from jivocrm.steps.new_contact import contact_data


def _event_defaults(ctx: StepContext) -> dict[str, Any]:
    """What integration platforms put into an unsorted form request, taken from the event."""
    event = ctx.event
    page = event.get("page") if isinstance(event.get("page"), Mapping) else {}
    session = event.get("session") if isinstance(event.get("session"), Mapping) else {}
    url = (page or {}).get("url")
    return {
        "form_id": event.get("widget_id"),
        "form_page": url,
        "ip": (session or {}).get("ip_addr"),
        "referer": url,
        "form_sent_at": int(ctx.now.timestamp()),
    }


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    crm = resolve.connector(ctx)
    metadata = {
        k: v
        for k, v in {**_event_defaults(ctx), **(params.get("metadata") or {})}.items()
        if not resolve.blank(v)
    }
    lead = params.get("lead") or {}
    pipeline, _ = await resolve.pipeline_and_stage(ctx, params.get("pipeline"), None)
    source_name = str(params.get("source_name") or "Jivo")
    data = UnsortedData(
        source_uid=str(params.get("source_uid") or f"jivocrm-{metadata.get('form_id', 'jivo')}"),
        source_name=source_name,
        lead_name=str(lead.get("name") or source_name),
        contact=await contact_data(ctx, params.get("contact") or {}),
        pipeline_id=pipeline,
        price=None if resolve.blank(lead.get("price")) else float(lead["price"]),
        request_id=f"{ctx.run_id or 'run'}:{ctx.step_id}",
        metadata=metadata,
        lead_responsible_id=await resolve.user_id(ctx, lead.get("responsible")),
        lead_custom=await resolve.custom_fields(ctx, "deal", lead.get("custom")),
        lead_tags=resolve.texts(lead.get("tags")),
    )
    made = await writing.write(
        ctx, "create_unsorted", data, lambda: crm.create_unsorted(data), "unsorted"
    )
    uid = made.extra.get("uid") if made.extra else None
    return StepResult(
        "ok",
        {"uid": uid, "lead_id": made.id, "contact_id": made.contact_id},
        Text("unsorted request {id} created", id=uid or made.id),
    )


SPEC = StepSpec(
    type="unsorted_lead",
    description="Put the request into the CRM's unsorted (Неразобранное) as a form request.",
    params={
        "source_uid": TEXT,
        "source_name": TEXT,
        "pipeline": NAME_OR_ID,
        "lead": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": VALUE,
                "price": VALUE,
                "responsible": {**NAME_OR_ID, "description": "CRM user (name or id)."},
                "custom": {
                    "type": "object",
                    "description": "Deal fields by name, code or id → value (tracking fields "
                    "such as UTM_SOURCE by their code).",
                    "additionalProperties": VALUE,
                },
                "tags": TAGS,
            },
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
                "responsible": {**NAME_OR_ID, "description": "CRM user (name or id)."},
                "custom": {
                    "type": "object",
                    "description": "Contact fields by name, code or id → value.",
                    "additionalProperties": VALUE,
                },
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
    outputs={
        "uid": "the unsorted request's uid",
        "lead_id": "its lead",
        "contact_id": "its contact",
    },
    example={
        "id": "unsorted",
        "type": "unsorted_lead",
        "connection": "amo",
        "source_name": "Jivo: {{ event.page.url }}",
        "lead": {"name": "Чат Jivo #{{ event.chat_id }}"},
        "contact": {"name": "{{ event.visitor.name }}", "phone": "{{ event.visitor.phone }}"},
    },
    run=run,
    writes=True,
    needs=UNSORTED,
    names=CrmNames(
        users=(("lead", "responsible"), ("contact", "responsible")),
        pipeline=(),
        custom=((("lead", "custom"), "deal"), (("contact", "custom"), "contact")),
    ),
)
