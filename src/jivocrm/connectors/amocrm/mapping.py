"""Records of ``connectors.base`` to amoCRM v4 JSON and back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jivocrm.connectors.base import (
    Contact,
    ContactData,
    CrmUser,
    CustomField,
    Deal,
    DealData,
    EntityKind,
    Pipeline,
    Stage,
    UnsortedData,
)
from jivocrm.core.errors import FatalError
from jivocrm.core.i18n import Text
from jivocrm.core.phones import normalize_email, normalize_phone

# System stages of every pipeline: 142 "Успешно реализовано", 143 "Закрыто и не реализовано".
WON, LOST = 142, 143
# Status type 1 is the pipeline's "Неразобранное" (unsorted) stage: still an open stage.
PLURAL: dict[str, str] = {
    "contact": "contacts",
    "deal": "leads",
    "lead": "leads",  # amoCRM's deals are "leads"; a Bitrix24-style lead maps onto them
    "company": "companies",
}


def amo_id(value: str | int, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FatalError(
            Text("amoCRM: {what} {value!r} is not an amoCRM id (a number)", what=what, value=value)
        ) from None


def plural(kind: EntityKind) -> str:
    return PLURAL[kind]


def multitext(code: str, values: Iterable[str]) -> dict[str, Any]:
    return {"field_code": code, "values": [{"value": v, "enum_code": "WORK"} for v in values]}


def custom_values(custom: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``{field id: value or list of values}`` as ``custom_fields_values`` items."""
    items = []
    for field_id, value in custom.items():
        values = value if isinstance(value, list) else [value]
        items.append(
            {
                "field_id": amo_id(field_id, "custom field"),
                "values": [v if isinstance(v, dict) else {"value": v} for v in values],
            }
        )
    return items


def contact_body(data: ContactData) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in ("name", "first_name", "last_name"):
        if getattr(data, key):
            body[key] = getattr(data, key)
    if data.responsible_id:
        body["responsible_user_id"] = amo_id(data.responsible_id, "responsible user")
    fields = custom_values(data.custom)
    if data.phones:
        fields.append(multitext("PHONE", data.phones))
    if data.emails:
        fields.append(multitext("EMAIL", data.emails))
    if fields:
        body["custom_fields_values"] = fields
    body.update(data.extra)
    return body


def deal_body(data: DealData) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if data.name:
        body["name"] = data.name
    if data.price is not None:
        body["price"] = int(data.price)  # amoCRM's price is an integer
    if data.pipeline_id:
        body["pipeline_id"] = amo_id(data.pipeline_id, "pipeline")
    if data.stage_id:
        body["status_id"] = amo_id(data.stage_id, "stage")
    if data.responsible_id:
        body["responsible_user_id"] = amo_id(data.responsible_id, "responsible user")
    if data.custom:
        body["custom_fields_values"] = custom_values(data.custom)
    if data.tags:
        body["_embedded"] = {"tags": tags(data.tags)}
    body.update(data.extra)
    return body


def tags(names: Iterable[str]) -> list[dict[str, str]]:
    """Tags by name: amoCRM adds the ones the account does not have yet."""
    return [{"name": name} for name in dict.fromkeys(n.strip() for n in names if n.strip())]


def embed(body: dict[str, Any], key: str, items: list[Any]) -> dict[str, Any]:
    """``body`` with ``_embedded[key]`` set, keeping what ``_embedded`` already holds (tags)."""
    body["_embedded"] = {**(body.get("_embedded") or {}), key: items}
    return body


def unsorted_body(data: UnsortedData, now: int) -> dict[str, Any]:
    """One "Неразобранное" form request; the metadata the amoCRM UI shows gets defaults."""
    lead = deal_body(
        DealData(
            name=data.lead_name,
            price=data.price,
            responsible_id=data.lead_responsible_id,
            custom=data.lead_custom,
            tags=data.lead_tags,
        )
    )
    item: dict[str, Any] = {
        "source_uid": data.source_uid,
        "source_name": data.source_name,
        "created_at": now,
        "request_id": data.request_id or "0",
        "metadata": {
            "form_id": "jivocrm",
            "form_name": data.source_name,
            "form_sent_at": now,
            **data.metadata,
        },
        "_embedded": {"leads": [lead], "contacts": [contact_body(data.contact)]},
    }
    if data.pipeline_id:
        item["pipeline_id"] = amo_id(data.pipeline_id, "pipeline")
    return item


def field_values(entity: Mapping[str, Any], code: str) -> list[str]:
    out: list[str] = []
    for item in entity.get("custom_fields_values") or []:
        if isinstance(item, dict) and item.get("field_code") == code:
            out += [str(v["value"]) for v in item.get("values") or [] if v.get("value")]
    return out


def to_contact(raw: Mapping[str, Any]) -> Contact:
    phones = [normalize_phone(p) or p for p in field_values(raw, "PHONE")]
    emails = [normalize_email(e) or e for e in field_values(raw, "EMAIL")]
    responsible = raw.get("responsible_user_id")
    return Contact(
        id=str(raw["id"]),
        name=raw.get("name"),
        phones=tuple(dict.fromkeys(phones)),
        emails=tuple(dict.fromkeys(emails)),
        responsible_id=str(responsible) if responsible else None,
    )


def to_deal(raw: Mapping[str, Any]) -> Deal:
    status = raw.get("status_id")
    pipeline = raw.get("pipeline_id")
    return Deal(
        id=str(raw["id"]),
        name=raw.get("name"),
        pipeline_id=str(pipeline) if pipeline is not None else None,
        stage_id=str(status) if status is not None else None,
        closed=status in (WON, LOST),
    )


def to_user(raw: Mapping[str, Any]) -> CrmUser:
    rights = raw.get("rights") or {}
    return CrmUser(
        id=str(raw["id"]),
        name=str(raw.get("name") or ""),
        email=raw.get("email"),
        active=bool(rights.get("is_active", True)),
    )


def to_pipeline(raw: Mapping[str, Any]) -> Pipeline:
    statuses = sorted((raw.get("_embedded") or {}).get("statuses") or [], key=_sort_key)
    stages = tuple(
        Stage(
            id=str(s["id"]),
            name=str(s.get("name") or ""),
            kind="won" if s["id"] == WON else "lost" if s["id"] == LOST else "open",
        )
        for s in statuses
    )
    return Pipeline(str(raw["id"]), str(raw.get("name") or ""), stages, bool(raw.get("is_main")))


def to_field(raw: Mapping[str, Any], entity: EntityKind) -> CustomField:
    enums = tuple((str(e["id"]), str(e.get("value", ""))) for e in raw.get("enums") or [])
    return CustomField(
        id=str(raw["id"]),
        name=str(raw.get("name") or ""),
        entity=entity,
        code=raw.get("code") or None,
        type=raw.get("type"),
        enums=enums,
    )


def _sort_key(raw: Mapping[str, Any]) -> tuple[int, int]:
    return (int(raw.get("sort") or 0), int(raw["id"]))
