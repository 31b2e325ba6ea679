"""RetailCRM in bundle tests: a test's CRM state as the emulator's seed, and the emulator's
records read back in the neutral shape every CRM's tests share.

In: ``users`` become managers; ``contacts`` customers (``phones``, ``emails``); ``deals`` orders
(``pipeline``: the store's code or name, ``stage``: the status's code or name, ``contact``, the
name as the order's one item). Out: contacts ``id, name, phones (E.164), emails, responsible``
and deals ``id, name, pipeline, pipeline_id, stage, stage_id, price, contacts, responsible``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from jivocrm.connectors.retailcrm.emulator import STATE
from jivocrm.connectors.retailcrm.emulator_state import load_seed
from jivocrm.core.phones import normalize_email, normalize_phone

Entity = dict[str, Any]
# An order's keys the neutral shape names otherwise; the rest (customFields, source…) are its
# `fields`.
ORDER_KEYS = frozenset(
    {"id", "number", "customer", "status", "site", "items", "managerId", "createdAt"}
)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _code(table: Mapping[str, Mapping[str, Any]], value: Any, what: str) -> str:
    for code, item in table.items():
        if str(value) in (code, str(item.get("name"))):
            return code
    raise ValueError(f"no {what} {value!r} in the emulator's seed")


def seed(state: Mapping[str, Any]) -> dict[str, Any]:
    """The emulator's seed holding a test's ``state``. Contacts and deals replace the demo
    account's together, so no demo order points at a customer the test removed."""
    out = copy.deepcopy(load_seed(None))
    if "contacts" in state or "deals" in state:
        out["customers"], out["orders"] = [], []
    for n, user in enumerate(_list(state.get("users")), start=1):
        first, _, last = str(user.get("name", "")).partition(" ")
        out["users"].append(
            {
                "id": user.get("id", 100 + n),
                "firstName": first,
                "lastName": last,
                "email": user.get("email"),
                "active": True,
                "isManager": True,
            }
        )
    for n, contact in enumerate(_list(state.get("contacts")), start=1):
        emails = _list(contact.get("emails", contact.get("email")))
        out["customers"].append(
            {
                "id": contact.get("id", 500 + n),
                "firstName": contact.get("name"),
                "email": emails[0] if emails else None,
                "phones": [
                    {"number": p} for p in _list(contact.get("phones", contact.get("phone")))
                ],
                "site": "shop",
                "createdAt": "2024-01-01 10:00:00",
            }
        )
    for n, deal in enumerate(_list(state.get("deals")), start=1):
        site = _code(out["sites"], deal.get("pipeline", "shop"), "store")
        status = _code(out["statuses"], deal.get("stage", "new"), "status")
        contacts = _list(deal.get("contact", deal.get("contacts")))
        item = {"productName": deal.get("name", f"Заказ {n}"), "quantity": 1}
        if deal.get("price") is not None:
            item["initialPrice"] = deal["price"]
        out["orders"].append(
            {
                "id": deal.get("id", 7000 + n),
                "number": f"{deal.get('id', 7000 + n)}A",
                "customer": int(contacts[0]) if contacts else None,
                "status": status,
                "site": site,
                "items": [item],
                "createdAt": "2024-01-01 10:05:00",
            }
        )
    return out


def quiet(app: web.Application) -> None:
    """Switch the emulator's rate limit off: a test is about what is sent, not when."""
    app[STATE].faults.rate_limit = 0.0


def entities(app: web.Application) -> dict[str, list[Entity]]:
    """Contacts and deals held by the emulator, in the neutral shape."""
    state = app[STATE]
    contacts = []
    for raw in state.customers:
        name = " ".join(str(raw.get(k) or "") for k in ("firstName", "lastName")).strip()
        phones = [normalize_phone(str(p.get("number"))) for p in raw.get("phones") or []]
        email = normalize_email(raw.get("email"))
        contacts.append(
            {
                "id": str(raw["id"]),
                "name": name or None,
                "phones": [p for p in phones if p],
                "emails": [email] if email else [],
                "responsible": _text(raw.get("managerId")),
            }
        )
    deals = []
    for raw in state.orders:
        items = raw.get("items") or [{}]
        status = str(raw.get("status"))
        site = str(raw.get("site"))
        deals.append(
            {
                "id": str(raw["id"]),
                "name": items[0].get("productName"),
                "pipeline": (state.sites.get(site) or {}).get("name"),
                "pipeline_id": site,
                "stage": (state.statuses.get(status) or {}).get("name"),
                "stage_id": status,
                "price": items[0].get("initialPrice"),
                "contacts": [str(raw["customer"])] if raw.get("customer") is not None else [],
                "responsible": _text(raw.get("managerId")),
                "fields": {k: v for k, v in raw.items() if k not in ORDER_KEYS},
            }
        )
    return {
        "contacts": contacts,
        "deals": deals,
        "notes": copy.deepcopy(state.notes),
        "tasks": copy.deepcopy(state.tasks),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


__all__ = ["entities", "quiet", "seed"]
