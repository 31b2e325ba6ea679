"""The emulator's universal item API (``crm.item.list`` for leads, deals and contacts) and a
deal's contact bindings (``crm.deal.contact.items.get``).

``crm.item.*`` speaks camelCase with integer ids, unlike the legacy ``crm.deal.*`` methods, and
knows a deal's whole contact list (``contactIds``), which ``crm.deal.get``/``list`` do not.
A filter or order on a field the emulator does not know is refused with the documented
``INVALID_ARG_VALUE``, never ignored: an ignored filter would return every record.
"""

from __future__ import annotations

from typing import Any

from jivocrm.connectors.bitrix24.emulator_crm import Listing, as_int, as_list, param
from jivocrm.connectors.bitrix24.emulator_state import ApiError, Caller, PortalState, invalid

ENTITY_TYPES = {1: "lead", 2: "deal", 3: "contact"}
# camelCase name → the legacy field it reads
FIELDS: dict[str, str] = {
    "id": "ID",
    "title": "TITLE",
    "name": "NAME",
    "lastName": "LAST_NAME",
    "assignedById": "ASSIGNED_BY_ID",
    "categoryId": "CATEGORY_ID",
    "stageId": "STAGE_ID",
    "stageSemanticId": "STAGE_SEMANTIC_ID",
    "opportunity": "OPPORTUNITY",
    "sourceId": "SOURCE_ID",
    "contactId": "CONTACT_ID",
    "contactIds": "CONTACT_IDS",
}


def _value(state: PortalState, kind: str, record: dict[str, Any], name: str) -> Any:
    legacy = FIELDS[name]
    if name == "stageSemanticId" and kind == "deal":
        return state.stage_semantics(str(record.get("STAGE_ID")))
    if name == "stageId" and kind == "lead":
        return record.get("STATUS_ID")
    contacts = [int(c) for c in record.get("CONTACT_IDS") or []]
    if name == "contactIds":
        return contacts
    if name == "contactId":
        return contacts[0] if contacts else None
    value = record.get(legacy)
    if name in ("id", "assignedById", "categoryId") and value is not None:
        return int(value)
    return value


def _check_filter(state: PortalState, flt: dict[str, Any]) -> None:
    for raw_key in flt:
        name = raw_key.lstrip("=!@")
        if name not in FIELDS or (name == "contactIds" and not state.item_contact_filter):
            raise ApiError(
                400, "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter"
            )


def _matches(state: PortalState, kind: str, record: dict[str, Any], flt: dict[str, Any]) -> bool:
    for raw_key, expected in flt.items():
        name = raw_key.lstrip("=!@")
        op = raw_key[: len(raw_key) - len(name)]
        actual = _value(state, kind, record, name)
        have = {str(v) for v in actual} if isinstance(actual, list) else {str(actual)}
        wanted = {str(v) for v in as_list(expected)}
        hit = bool(have & wanted)
        if hit == op.startswith("!"):
            return False
    return True


def item_list(state: PortalState, params: dict[str, Any], caller: Caller) -> Listing:
    type_id = as_int(param(params, "entityTypeId"), "entityTypeId")
    kind = ENTITY_TYPES.get(type_id)
    if kind is None:
        raise ApiError(400, "NOT_FOUND", "Smart process not found")
    flt = param(params, "filter") or {}
    if not isinstance(flt, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "Invalid filter")
    _check_filter(state, flt)
    select = [str(s) for s in as_list(param(params, "select"))] or ["*"]
    names = list(FIELDS) if "*" in select else select
    for name in names:
        if name not in FIELDS or (name == "contactIds" and not state.item_contact_filter):
            raise ApiError(400, "INVALID_ARG_VALUE", f"Invalid select: unknown field '{name}'")
    records = sorted(state.entities[kind].values(), key=lambda r: int(r["ID"]))
    items = [
        {name: _value(state, kind, r, name) for name in ["id", *names] if name in FIELDS}
        for r in records
        if _matches(state, kind, r, flt)
    ]
    return Listing(items, key="items")


def deal_contacts(state: PortalState, params: dict[str, Any], caller: Caller) -> list[Any]:
    deal = state.entities["deal"].get(as_int(param(params, "id"), "id"))
    if deal is None:
        raise invalid("Not found")
    contacts = [int(c) for c in deal.get("CONTACT_IDS") or []]
    return [
        {"CONTACT_ID": c, "SORT": 10 * (n + 1), "ROLE_ID": 0, "IS_PRIMARY": "Y" if n == 0 else "N"}
        for n, c in enumerate(contacts)
    ]


__all__ = ["deal_contacts", "item_list"]
