"""amoCRM in bundle tests: a test's CRM state as the emulator's seed, and the emulator's records
read back in the neutral shape (``jivocrm.connectors.kit``), with a deal's custom and tracking
fields by code and its tags."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from jivocrm.connectors.amocrm.emulator_routes import STATE
from jivocrm.connectors.amocrm.emulator_state import load_seed
from jivocrm.connectors.kit import (
    Entity,
    as_list,
    contact_entity,
    pick,
    replacing_records,
    text_or_none,
)


def seed(state: Mapping[str, Any]) -> dict[str, Any]:
    """The emulator's seed holding a bundle test's ``state``."""
    return _seed(load_seed(None), state)


def _seed(base: dict[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    seed = copy.deepcopy(base)
    state = replacing_records(state)
    for n, user in enumerate(as_list(state.get("users")), start=1):
        seed["users"].append({"id": user.get("id", 6200000 + n), **user, "is_admin": False})
    if "contacts" in state:
        seed["contacts"] = [
            {
                "id": c.get("id", 40000000 + n),
                "name": c.get("name"),
                "phones": as_list(c.get("phones", c.get("phone"))),
                "emails": as_list(c.get("emails", c.get("email"))),
                "created_at": 1700000000 + n,
            }
            for n, c in enumerate(as_list(state["contacts"]), start=1)
        ]
    if "deals" in state:
        seed["leads"] = []
        for n, deal in enumerate(as_list(state["deals"]), start=1):
            pipeline = pick(seed["pipelines"], deal.get("pipeline", "Продажи"), "id", "name")
            statuses = pipeline["statuses"]
            stage = pick(statuses, deal.get("stage", statuses[1]["id"]), "id", "name")
            seed["leads"].append(
                {
                    "id": deal.get("id", 50000000 + n),
                    "name": deal.get("name", f"Сделка {n}"),
                    "pipeline_id": pipeline["id"],
                    "status_id": stage["id"],
                    "contacts": [
                        int(c) for c in as_list(deal.get("contact", deal.get("contacts")))
                    ],
                    "created_at": 1700000100 + n,
                }
            )
    return seed


def _entities(snapshot: Mapping[str, Any]) -> dict[str, list[Entity]]:
    from jivocrm.connectors.amocrm import mapping

    stages = {
        s["id"]: (p, s) for p in snapshot.get("pipelines") or [] for s in p.get("statuses") or []
    }
    contacts = []
    for raw in snapshot["contacts"]:
        contact = mapping.to_contact(raw)
        contacts.append(
            contact_entity(
                contact.id,
                contact.name,
                contact.phones,
                contact.emails,
                raw.get("responsible_user_id"),
            )
        )
    deals = []
    for raw in snapshot["leads"]:
        pipeline, stage = stages.get(raw.get("status_id"), ({}, {}))
        deals.append(
            {
                "id": str(raw["id"]),
                "name": raw.get("name"),
                "pipeline": pipeline.get("name"),
                "pipeline_id": str(raw.get("pipeline_id")),
                "stage": stage.get("name"),
                "stage_id": str(raw.get("status_id")),
                "price": raw.get("price"),
                "contacts": [str(c) for c in raw.get("contacts") or []],
                "responsible": text_or_none(raw.get("responsible_user_id")),
                "fields": fields_of(raw),
                "tags": [t.get("name") for t in raw.get("tags") or []],
            }
        )
    return {"contacts": contacts, "deals": deals}


def fields_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Custom and tracking field values by code (or name): ``{UTM_SOURCE: yandex, …}``."""
    out: dict[str, Any] = {}
    for item in raw.get("custom_fields_values") or []:
        values = [v.get("value") for v in item.get("values") or []]
        if item.get("field_code") in ("PHONE", "EMAIL") or not values:
            continue
        out[str(item.get("field_code") or item.get("field_name"))] = (
            values[0] if len(values) == 1 else values
        )
    return out


def quiet(app: web.Application) -> None:
    """Switch the emulator's rate limit off: a test is about what is sent, not when."""
    app[STATE].faults.rate_limit = 0.0


def entities(app: web.Application) -> dict[str, list[Entity]]:
    """Contacts and deals held by the emulator, in the neutral shape."""
    return _entities(app[STATE].snapshot())


__all__ = ["entities", "quiet", "seed"]
