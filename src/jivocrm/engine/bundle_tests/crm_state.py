"""CRM state for bundle tests in one neutral shape, whichever CRM the connection is.

In: ``users``/``contacts``/``deals`` of a test become the emulator's seed (amoCRM and Bitrix24
seeds differ). Out: the emulator's state read back as ``contacts`` (id, name, phones in E.164,
emails, responsible) and ``deals`` (id, name, pipeline and stage by name and id, price,
contacts, ``fields`` — custom and own fields by code — and amoCRM's ``tags``), so one
expectation reads the same for both CRMs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from jivocrm.engine.phones import normalize_email, normalize_phone

Entity = dict[str, Any]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _pick(items: list[dict[str, Any]], value: Any, id_key: str, name_key: str) -> Any:
    for item in items:
        if str(item.get(id_key)) == str(value) or str(item.get(name_key)) == str(value):
            return item
    raise ValueError(f"no {value!r} in the emulator's seed")


# ---- amoCRM -----------------------------------------------------------------------------------
def _records(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """Contacts and deals replace the demo account's together: a demo deal must not point at
    a contact the test removed."""
    if "contacts" in state or "deals" in state:
        return {"contacts": [], "deals": [], **state}
    return state


def _amo_seed(base: dict[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    seed = copy.deepcopy(base)
    state = _records(state)
    for n, user in enumerate(_list(state.get("users")), start=1):
        seed["users"].append({"id": user.get("id", 6200000 + n), **user, "is_admin": False})
    if "contacts" in state:
        seed["contacts"] = [
            {
                "id": c.get("id", 40000000 + n),
                "name": c.get("name"),
                "phones": _list(c.get("phones", c.get("phone"))),
                "emails": _list(c.get("emails", c.get("email"))),
                "created_at": 1700000000 + n,
            }
            for n, c in enumerate(_list(state["contacts"]), start=1)
        ]
    if "deals" in state:
        seed["leads"] = []
        for n, deal in enumerate(_list(state["deals"]), start=1):
            pipeline = _pick(seed["pipelines"], deal.get("pipeline", "Продажи"), "id", "name")
            statuses = pipeline["statuses"]
            stage = _pick(statuses, deal.get("stage", statuses[1]["id"]), "id", "name")
            seed["leads"].append(
                {
                    "id": deal.get("id", 50000000 + n),
                    "name": deal.get("name", f"Сделка {n}"),
                    "pipeline_id": pipeline["id"],
                    "status_id": stage["id"],
                    "contacts": [int(c) for c in _list(deal.get("contact", deal.get("contacts")))],
                    "created_at": 1700000100 + n,
                }
            )
    return seed


def _amo_entities(snapshot: Mapping[str, Any]) -> dict[str, list[Entity]]:
    from jivocrm.connectors.amocrm import mapping

    stages = {
        s["id"]: (p, s) for p in snapshot.get("pipelines") or [] for s in p.get("statuses") or []
    }
    contacts = []
    for raw in snapshot["contacts"]:
        contact = mapping.to_contact(raw)
        contacts.append(_contact(contact.id, contact.name, contact.phones, contact.emails, raw))
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
                "responsible": _text(raw.get("responsible_user_id")),
                "fields": _amo_fields(raw),
                "tags": [t.get("name") for t in raw.get("tags") or []],
            }
        )
    return {"contacts": contacts, "deals": deals}


def _amo_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
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


# ---- Bitrix24 ---------------------------------------------------------------------------------
def _b24_seed(base: dict[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    seed = copy.deepcopy(base)
    state = _records(state)
    for n, user in enumerate(_list(state.get("users")), start=1):
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
                "PHONE": [{"VALUE": p} for p in _list(c.get("phones", c.get("phone")))],
                "EMAIL": [{"VALUE": e} for e in _list(c.get("emails", c.get("email")))],
            }
            for n, c in enumerate(_list(state["contacts"]), start=1)
        ]
    if "deals" in state:
        seed["deals"] = []
        for n, deal in enumerate(_list(state["deals"]), start=1):
            category = _pick(seed["categories"], deal.get("pipeline", 0), "id", "name")
            stages = category["stages"]
            stage = _pick(stages, deal.get("stage", stages[0]["STATUS_ID"]), "STATUS_ID", "NAME")
            seed["deals"].append(
                {
                    "ID": deal.get("id", 700 + n),
                    "TITLE": deal.get("name", f"Сделка {n}"),
                    "CATEGORY_ID": category["id"],
                    "STAGE_ID": stage["STATUS_ID"],
                    "CONTACT_IDS": [
                        int(c) for c in _list(deal.get("contact", deal.get("contacts")))
                    ],
                }
            )
    return seed


def _b24_entities(snapshot: Mapping[str, Any]) -> dict[str, list[Entity]]:
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
        contact = _contact(str(raw["ID"]), name, phones, emails, {})
        contact["responsible"] = _text(raw.get("ASSIGNED_BY_ID"))
        contacts.append(contact)
    deals = []
    for raw in snapshot["deals"]:
        category, stage = stages.get(raw.get("STAGE_ID"), ({}, {}))
        deals.append(
            {
                "id": str(raw["ID"]),
                "name": raw.get("TITLE"),
                "pipeline": category.get("name"),
                "pipeline_id": _text(raw.get("CATEGORY_ID", 0)),
                "stage": stage.get("NAME"),
                "stage_id": raw.get("STAGE_ID"),
                "price": raw.get("OPPORTUNITY"),
                "contacts": [str(c) for c in raw.get("CONTACT_IDS") or []],
                "responsible": _text(raw.get("ASSIGNED_BY_ID")),
                "fields": {k: v for k, v in raw.items() if k not in B24_DEAL_KEYS},
            }
        )
    return {"contacts": contacts, "deals": deals, "leads": list(snapshot.get("leads") or [])}


# A Bitrix24 deal's keys the neutral shape names otherwise; the rest are its `fields`.
B24_DEAL_KEYS = frozenset(
    {"ID", "TITLE", "CATEGORY_ID", "STAGE_ID", "OPPORTUNITY", "CONTACT_IDS", "ASSIGNED_BY_ID"}
    | {"DATE_CREATE", "PHONE", "EMAIL", "WEB", "IM"}
)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _contact(cid: Any, name: Any, phones: Any, emails: Any, raw: Mapping[str, Any]) -> Entity:
    return {
        "id": str(cid),
        "name": name,
        "phones": [p for p in (normalize_phone(str(v)) for v in phones if v) if p],
        "emails": [e for e in (normalize_email(str(v)) for v in emails if v) if e],
        "responsible": _text(raw.get("responsible_user_id")),
    }


# ---- per CRM ----------------------------------------------------------------------------------
def write_seed(crm: str, state: Mapping[str, Any], folder: Path, name: str) -> Path:
    """A seed file for the emulator of ``crm`` holding the test's ``state``."""
    if crm == "amocrm":
        from jivocrm.connectors.amocrm.emulator_state import load_seed as amo_seed

        seed = _amo_seed(amo_seed(None), state)
    else:
        from jivocrm.connectors.bitrix24.emulator_state import load_seed as b24_seed

        seed = _b24_seed(b24_seed(None), state)
    path = folder / f"{name}.seed.yaml"
    with path.open("w", encoding="utf-8") as out:
        YAML(typ="safe").dump(seed, out)
    return path


def quiet(crm: str, app: Any) -> None:
    """Switch the emulator's rate limit off: a test is about what is sent, not when."""
    if crm == "amocrm":
        from jivocrm.connectors.amocrm.emulator_routes import STATE

        app[STATE].faults.rate_limit = 0.0
    else:
        from jivocrm.connectors.bitrix24.emulator import EMULATOR, configure

        configure(app[EMULATOR], {"rate_limit": {"rate": 0}})


def entities(crm: str, app: Any) -> dict[str, list[Entity]]:
    """Contacts and deals held by the emulator, in the neutral shape."""
    if crm == "amocrm":
        from jivocrm.connectors.amocrm.emulator_routes import STATE

        return _amo_entities(app[STATE].snapshot())
    from jivocrm.connectors.bitrix24.emulator import EMULATOR

    return _b24_entities(app[EMULATOR].state.snapshot())


__all__ = ["entities", "quiet", "write_seed"]
