"""new_deal: a deal («сделка», an order) linked to a contact, in a pipeline and stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.base import DealData
from jivocrm.connectors.spec import DEAL_TAGS, DEALS
from jivocrm.core.errors import ConnectorError, StepError
from jivocrm.core.i18n import Text
from jivocrm.steps import resolve, writing
from jivocrm.steps.base import (
    NAME_OR_ID,
    TAGS,
    VALUE,
    CrmNames,
    PendingContact,
    PendingDeal,
    StepContext,
    StepResult,
    StepSpec,
    duplicates_schema,
    resumed_note,
)

# Every chat is its own deal unless the bundle asks to reuse an open one.
DEFAULT_MODE = "create"


def _price(value: Any) -> float | None:
    if resolve.blank(value):
        return None
    try:
        return float(str(value).replace(" ", "").replace(",", "."))
    except ValueError:
        raise StepError(Text("price: {value} is not a number", value=repr(value))) from None


def _output(ctx: StepContext, deal_id: str | None, created: bool) -> dict[str, Any]:
    return {"id": deal_id, "url": writing.url(ctx, "deal", deal_id), "created": created}


async def deal_data(ctx: StepContext, fields: Mapping[str, Any]) -> DealData:
    pipeline, stage = await resolve.pipeline_and_stage(
        ctx, fields.get("pipeline"), fields.get("stage")
    )
    contact = fields.get("contact")
    return DealData(
        name=None if resolve.blank(fields.get("name")) else str(fields["name"]),
        pipeline_id=pipeline,
        stage_id=stage,
        price=_price(fields.get("price")),
        responsible_id=await resolve.user_id(ctx, fields.get("responsible")),
        contact_id=None
        if resolve.blank(contact) or isinstance(contact, PendingContact)
        else str(contact),
        custom=await resolve.custom_fields(ctx, "deal", fields.get("custom")),
        extra=resolve.present(fields.get("extra")),
        tags=resolve.texts(fields.get("tags")),
    )


def _deferred(ctx: StepContext, data: DealData, contact: PendingContact | None) -> StepResult:
    """The deal (and its pending contact) left to the later step that writes on it."""
    pending = PendingDeal(ctx.step_id, data, contact)
    return StepResult(
        "ok",
        {"id": pending, "url": None, "created": True},
        "new deal, created together with the next write on it",
    )


async def create_pending(ctx: StepContext, pending: PendingDeal) -> str:
    """A deal left pending that no later step took: made now, with its pending contact."""
    crm = resolve.connector(ctx)
    contact = pending.contact
    if contact is not None and contact.contact_id is None:
        try:
            made = await crm.create_deal_with_contact(pending.data, contact.data)
        except ConnectorError as exc:
            contact.contact_id = exc.written.get("contact")  # made before the deal failed
            raise
        contact.contact_id, contact.merged = made.contact_id, bool(made.extra.get("merged"))
    else:
        if contact is not None:  # made by the call that failed after it
            pending.data.contact_id = contact.contact_id
        made = await crm.create_deal(pending.data)
    pending.deal_id = made.id
    return made.id


async def _with_contact(ctx: StepContext, data: DealData, pending: PendingContact) -> StepResult:
    """A new contact and its deal in ONE CRM call; the contact step's output is filled here."""
    if ctx.defer_deal and not ctx.dry_run:
        return _deferred(ctx, data, pending)
    crm = resolve.connector(ctx)
    payload = {"deal": data, "contact": pending.data}
    try:
        made = await writing.write(
            ctx,
            "create_deal_with_contact",
            payload,
            lambda: crm.create_deal_with_contact(data, pending.data),
            "deal",
        )
    except ConnectorError as exc:
        # A contact the call made before its deal failed is the contact step's: not made again.
        pending.contact_id = exc.written.get("contact")
        raise
    pending.contact_id = made.contact_id or (
        writing.placeholder("contact") if ctx.dry_run else None
    )
    if made.extra.get("merged"):
        # A CRM's own duplicate control (when on for the integration) may answer with the deal
        # and contact it already had instead of new ones.
        pending.merged = True
        return StepResult(
            "ok",
            _output(ctx, made.id, False),
            Text(
                "the CRM's duplicate control merged the request into deal {id} of contact "
                "{contact}",
                id=made.id,
                contact=pending.contact_id,
            ),
        )
    return StepResult(
        "ok",
        _output(ctx, made.id, True),
        Text(
            "deal {id} created with contact {contact} in one call",
            id=made.id,
            contact=pending.contact_id,
        ),
    )


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    crm = resolve.connector(ctx)
    fields = params.get("fields") or {}
    data = await deal_data(ctx, fields)
    policy = params.get("duplicates") or {}
    mode = policy.get("mode", DEFAULT_MODE)
    pending = fields.get("contact")
    if isinstance(pending, PendingContact):
        # The contact is about to be created: it has no deals to reuse or update.
        if mode == "update_only":
            return StepResult(
                "skipped", _output(ctx, None, False), Text("new contact: no deal to update")
            )
        return await _with_contact(ctx, data, pending)
    if mode != "create" and data.contact_id and not writing.is_placeholder(data.contact_id):
        found = await crm.find_open_deals(data.contact_id, data.pipeline_id)
        if found:
            deal = found[0]
            if mode == "skip":
                return StepResult(
                    "ok",
                    _output(ctx, deal.id, False),
                    Text(
                        "open deal {id} of contact {contact} reused (duplicates: skip)",
                        id=deal.id,
                        contact=data.contact_id,
                    ),
                )
            await writing.update(
                ctx,
                "update_deal",
                {"id": deal.id, **writing.plain(data)},
                lambda: crm.update_deal(deal.id, data),
            )
            return StepResult(
                "ok",
                _output(ctx, deal.id, False),
                Text("open deal {id} updated ({mode})", id=deal.id, mode=mode),
            )
    if mode == "update_only":
        return StepResult("skipped", _output(ctx, None, False), Text("no open deal to update"))
    if ctx.defer_deal and not ctx.dry_run:
        return _deferred(ctx, data, None)
    uncertain = ctx.resumed and mode == "create"
    made = await writing.write(ctx, "create_deal", data, lambda: crm.create_deal(data), "deal")
    return StepResult(
        "ok",
        _output(ctx, made.id, True),
        Text("deal {id} created{note}", id=made.id, note=resumed_note(uncertain)),
        uncertain=uncertain,
    )


SPEC = StepSpec(
    type="new_deal",
    description="Create a deal linked to a contact; reuse an open one of that contact if asked.",
    params={
        "fields": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": VALUE,
                "pipeline": {
                    **NAME_OR_ID,
                    "description": "Pipeline (a funnel, a store: what the CRM groups deals by).",
                },
                "stage": {**NAME_OR_ID, "description": "Stage (a status) in the pipeline."},
                "price": VALUE,
                "responsible": NAME_OR_ID,
                "contact": {
                    **VALUE,
                    "description": "The contact's id, e.g. {{ steps.contact.id }}.",
                },
                "custom": {"type": "object", "additionalProperties": VALUE},
                "extra": {"type": "object"},
                "tags": TAGS,
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
    needs=DEALS,
    writes_pending=create_pending,
    takes_pending="fields.contact",
    takes_pending_of="new_contact",
    key_needs={"fields.tags": DEAL_TAGS},
    names=CrmNames(
        users=(("fields", "responsible"),),
        pipeline=("fields",),
        custom=((("fields", "custom"), "deal"),),
    ),
)
