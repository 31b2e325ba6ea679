"""Bitrix24 in bundle tests: a test's CRM state as the emulator's seed, and the emulator's records
read back in the neutral shape (``jivocrm.connectors.kit``), with a deal's own and custom fields
by code."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from jivocrm.connectors.bitrix24.emulator import EMULATOR, configure
from jivocrm.connectors.bitrix24.emulator_state import load_seed
from jivocrm.connectors.kit import (
    Entity,
    as_list,
    contact_entity,
    pick,
    replacing_records,
    text_or_none,
)

# A deal's keys the neutral shape names otherwise; the rest are its `fields`.
DEAL_KEYS = frozenset(
    {"ID", "TITLE", "CATEGORY_ID", "STAGE_ID", "OPPORTUNITY", "CONTACT_IDS", "ASSIGNED_BY_ID"}
    | {"DATE_CREATE", "PHONE", "EMAIL", "WEB", "IM"}
)


def seed(state: Mapping[str, Any]) -> dict[str, Any]:
    """The emulator's seed holding a bundle test's ``state``."""
    return _seed(load_seed(None), state)


def _seed(base: dict[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    seed = copy.deepcopy(base)
    state = replacing_records(state)
    for n, user in enumerate(as_list(state.get("users")), start=1):
        first, _, last = str(user.get("name", "")).partition(" ")
        seed["users"].append(
            {
                "ID": user.get("id", 100 + n),
                "NAME": first,
                "LAST_NAME": last,
                "EMAIL": user.get("email"),
            }
        )
    if "contacts" in state:
        seed["contacts"] = [
            {
                "ID": c.get("id", 500 + n),
                "NAME": c.get("name"),
                "PHONE": [{"VALUE": p} for p in as_list(c.get("phones", c.get("phone")))],
                "EMAIL": [{"VALUE": e} for e in as_list(c.get("emails", c.get("email")))],
            }
            for n, c in enumerate(as_list(state["contacts"]), start=1)
        ]
    if "deals" in state:
        seed["deals"] = []
        for n, deal in enumerate(as_list(state["deals"]), start=1):
            category = pick(seed["categories"], deal.get("pipeline", 0), "id", "name")
            stages = category["stages"]
            stage = pick(stages, deal.get("stage", stages[0]["STATUS_ID"]), "STATUS_ID", "NAME")
            seed["deals"].append(
                {
                    "ID": deal.get("id", 700 + n),
                    "TITLE": deal.get("name", f"Сделка {n}"),
                    "CATEGORY_ID": category["id"],
                    "STAGE_ID": stage["STATUS_ID"],
                    "CONTACT_IDS": [
                        int(c) for c in as_list(deal.get("contact", deal.get("contacts")))
                    ],
                }
            )
    return seed


def _entities(snapshot: Mapping[str, Any]) -> dict[str, list[Entity]]:
    stages = {
        s["STATUS_ID"]: (c, s)
        for c in snapshot.get("categories") or []
        for s in c.get("stages") or []
    }
    contacts = []
    for raw in snapshot["contacts"]:
        name = " ".join(p for p in (raw.get("NAME"), raw.get("LAST_NAME")) if p) or None
        phones = [i.get("VALUE") for i in raw.get("PHONE") or []]
        emails = [i.get("VALUE") for i in raw.get("EMAIL") or []]
        contact = contact_entity(str(raw["ID"]), name, phones, emails, raw.get("ASSIGNED_BY_ID"))
        contacts.append(contact)
    deals = []
    for raw in snapshot["deals"]:
        category, stage = stages.get(raw.get("STAGE_ID"), ({}, {}))
        deals.append(
            {
                "id": str(raw["ID"]),
                "name": raw.get("TITLE"),
                "pipeline": category.get("name"),
                "pipeline_id": text_or_none(raw.get("CATEGORY_ID", 0)),
                "stage": stage.get("NAME"),
                "stage_id": raw.get("STAGE_ID"),
                "price": raw.get("OPPORTUNITY"),
                "contacts": [str(c) for c in raw.get("CONTACT_IDS") or []],
                "responsible": text_or_none(raw.get("ASSIGNED_BY_ID")),
                "fields": {k: v for k, v in raw.items() if k not in DEAL_KEYS},
            }
        )
    notes = [
        {
            "id": str(raw["ID"]),
            "entity": raw.get("ENTITY_TYPE"),
            "entity_id": text_or_none(raw.get("ENTITY_ID")),
            "text": raw.get("COMMENT"),
        }
        for raw in snapshot.get("comments") or []
    ]
    leads = list(snapshot.get("leads") or [])
    return {"contacts": contacts, "deals": deals, "leads": leads, "notes": notes}


def quiet(app: web.Application) -> None:
    """Switch the emulator's rate limit off: a test is about what is sent, not when."""
    configure(app[EMULATOR], {"rate_limit": {"rate": 0}})


def entities(app: web.Application) -> dict[str, list[Entity]]:
    """Contacts and deals held by the emulator, in the neutral shape."""
    return _entities(app[EMULATOR].state.snapshot())


__all__ = ["entities", "quiet", "seed"]
