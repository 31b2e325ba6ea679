"""RetailCRM's records in jivocrm's terms, and back.

* A **contact** is a customer: ``firstName``/``lastName``, ``phones: [{number}]``, one ``email``,
  ``managerId``, ``customFields`` by code.
* A **deal** is an order: the store (``site``) is its pipeline, the order status its stage (a
  status in the ``complete`` group is won, in ``cancel`` lost), the customer its contact, the
  manager its responsible user. An order has no title of its own, so a deal's name is its one
  item's ``productName`` (with the price as the item's price): what the shop sells from a chat.
* Custom fields are named by their code, which is also their id here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
)
from jivocrm.core.errors import StepError
from jivocrm.core.i18n import Text
from jivocrm.core.phones import normalize_email, normalize_phone

CLOSED_GROUPS = {"complete": "won", "cancel": "lost"}
FIELD_ENTITIES: dict[str, EntityKind] = {"customer": "contact", "order": "deal"}


def numeric(value: str, what: str) -> int:
    """RetailCRM ids are numbers; anything else is the bundle's mistake, said plainly."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise StepError(
            Text("RetailCRM: {what} id {value!r} is not a number", what=what, value=value)
        ) from None


def dumps(value: Any) -> str:
    """An entity as the JSON text a form field carries."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def to_user(raw: Mapping[str, Any]) -> CrmUser:
    name = " ".join(str(raw.get(k) or "") for k in ("firstName", "lastName")).strip()
    return CrmUser(
        id=str(raw["id"]),
        name=name or str(raw.get("email") or raw["id"]),
        email=raw.get("email"),
        active=bool(raw.get("active", True)),
    )


def to_contact(raw: Mapping[str, Any]) -> Contact:
    name = " ".join(str(raw.get(k) or "") for k in ("firstName", "lastName")).strip()
    phones = []
    for item in raw.get("phones") or []:
        number = normalize_phone(str(item.get("number") or "")) if isinstance(item, dict) else None
        if number and number not in phones:
            phones.append(number)
    email = normalize_email(raw.get("email"))
    manager = raw.get("managerId")
    return Contact(
        id=str(raw["id"]),
        name=name or None,
        phones=tuple(phones),
        emails=(email,) if email else (),
        responsible_id=str(manager) if manager is not None else None,
    )


def customer_body(data: ContactData, phones: list[str] | None = None) -> dict[str, Any]:
    """The ``customer`` JSON of a create or an edit: only the fields ``data`` sets."""
    body: dict[str, Any] = {}
    if data.first_name or data.last_name:
        body["firstName"] = data.first_name or ""
        body["lastName"] = data.last_name or ""
    elif data.name:
        # One name as the visitor typed it: RetailCRM shows firstName first.
        body["firstName"] = data.name
        body["lastName"] = ""
    numbers = data.phones if phones is None else phones
    if numbers:
        body["phones"] = [{"number": p} for p in numbers]
    if data.emails:
        body["email"] = data.emails[0]
    if data.responsible_id:
        body["managerId"] = numeric(data.responsible_id, "manager")
    if data.custom:
        body["customFields"] = dict(data.custom)
    body.update(data.extra)
    return body


def stage_kinds(groups: Mapping[str, Any]) -> dict[str, str]:
    """Status code → open / won / lost, from the status groups."""
    kinds: dict[str, str] = {}
    for code, group in (groups or {}).items():
        for status in group.get("statuses") or []:
            kinds[str(status)] = CLOSED_GROUPS.get(str(code), "open")
    return kinds


def to_pipelines(
    sites: Mapping[str, Any], statuses: Mapping[str, Any], groups: Mapping[str, Any]
) -> tuple[Pipeline, ...]:
    """One pipeline per store; its stages are the account's active order statuses, in the
    order of their groups and then their own."""
    kinds = stage_kinds(groups)
    group_order = {code: int(g.get("ordering") or 0) for code, g in (groups or {}).items()}
    active = [s for s in (statuses or {}).values() if s.get("active", True)]
    ordered = sorted(
        active,
        key=lambda s: (group_order.get(str(s.get("group")), 0), int(s.get("ordering") or 0)),
    )
    stages = tuple(
        Stage(str(s["code"]), str(s.get("name") or s["code"]), kinds.get(str(s["code"]), "open"))
        for s in ordered
    )
    items = sorted((sites or {}).values(), key=lambda s: (int(s.get("ordering") or 0), s["code"]))
    return tuple(
        Pipeline(str(s["code"]), str(s.get("name") or s["code"]), stages, is_main=n == 0)
        for n, s in enumerate(items)
    )


def to_deal(raw: Mapping[str, Any], kinds: Mapping[str, str]) -> Deal:
    items = raw.get("items") or []
    first = items[0] if items and isinstance(items[0], dict) else {}
    status = raw.get("status")
    return Deal(
        id=str(raw["id"]),
        name=first.get("productName") or raw.get("number"),
        pipeline_id=raw.get("site"),
        stage_id=str(status) if status is not None else None,
        closed=kinds.get(str(status), "open") != "open",
    )


def order_body(data: DealData, order_method: str | None = None) -> dict[str, Any]:
    """The ``order`` JSON of a create or an edit: only the fields ``data`` sets."""
    body: dict[str, Any] = {}
    if data.name or data.price is not None:
        item: dict[str, Any] = {"productName": data.name or "Заказ", "quantity": 1}
        if data.price is not None:
            item["initialPrice"] = data.price
        body["items"] = [item]
    if data.stage_id:
        body["status"] = data.stage_id
    if data.contact_id:
        body["customer"] = {"id": numeric(data.contact_id, "customer")}
    if data.responsible_id:
        body["managerId"] = numeric(data.responsible_id, "manager")
    if order_method:
        body["orderMethod"] = order_method
    if data.custom:
        body["customFields"] = dict(data.custom)
    body.update(data.extra)
    source = body.get("source")
    if isinstance(source, dict):
        # The visit's UTM tags, those a chat has: an empty one would blank the order's source.
        kept = {k: v for k, v in source.items() if v not in (None, "")}
        if kept:
            body["source"] = kept
        else:
            del body["source"]
    return body


def to_field(raw: Mapping[str, Any]) -> CustomField | None:
    entity = FIELD_ENTITIES.get(str(raw.get("entity")))
    if entity is None:
        return None
    code = str(raw["code"])
    return CustomField(code, str(raw.get("name") or code), entity, code=code, type=raw.get("type"))


__all__ = [
    "customer_body",
    "dumps",
    "numeric",
    "order_body",
    "stage_kinds",
    "to_contact",
    "to_deal",
    "to_field",
    "to_pipelines",
    "to_user",
]
