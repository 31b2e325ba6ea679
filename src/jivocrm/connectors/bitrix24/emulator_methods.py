"""Every REST method the Bitrix24 emulator knows, with the scope it needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jivocrm.connectors.bitrix24.emulator_crm import (
    LEAD_STATUSES,
    Handler,
    Listing,
    adder,
    as_int,
    as_list,
    describer,
    getter,
    lister,
    param,
    updater,
)
from jivocrm.connectors.bitrix24.emulator_state import Caller, PortalState, invalid
from jivocrm.engine.phones import normalize_email, normalize_phone

TASK_BINDINGS = {"D": "deal", "C": "contact", "L": "lead", "CO": "company"}


def find_by_comm(state: PortalState, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    kind = str(param(params, "type", "")).upper()
    if kind not in ("PHONE", "EMAIL"):
        raise invalid("Parameter 'type' is not defined or invalid.")
    values = as_list(param(params, "values"))
    if not values:
        raise invalid("Parameter 'values' is not defined or empty.")
    if len(values) > 20:
        raise invalid("Too many values: 20 is the maximum.")
    # Bitrix24 compares normalised communications: one number however it is written.
    norm = normalize_phone if kind == "PHONE" else normalize_email
    wanted = {norm(str(v)) for v in values} - {None}
    entity_type = str(param(params, "entity_type", "") or "").upper()
    kinds = [entity_type.lower()] if entity_type else ["lead", "contact", "company"]
    found: dict[str, Any] = {}
    for entity in kinds:
        ids = [
            entity_id
            for entity_id, record in sorted(state.entities.get(entity, {}).items())
            if any(norm(item["VALUE"]) in wanted for item in record.get(kind) or [])
        ]
        if ids:
            found[entity.upper()] = ids
    return found  # an empty map: serialised as [] by the PHP-quirk encoder


def _user_shown(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "ID": str(user["ID"]),
        "ACTIVE": bool(user.get("ACTIVE", True)),
        "NAME": user.get("NAME", ""),
        "LAST_NAME": user.get("LAST_NAME", ""),
        "EMAIL": user.get("EMAIL", ""),
        "WORK_POSITION": user.get("WORK_POSITION", ""),
        "UF_DEPARTMENT": [1],
        "USER_TYPE": "employee",
    }


def user_get(state: PortalState, params: dict[str, Any], caller: Caller) -> Listing:
    flt = param(params, "filter") or {}
    flt = flt if isinstance(flt, dict) else {}
    shown = []
    for user in sorted(state.users, key=lambda u: int(u["ID"])):
        record = _user_shown(user)
        ok = True
        for key, expected in flt.items():
            actual = record.get(key.lstrip("=").upper())
            if isinstance(actual, bool):
                ok = ok and actual == (str(expected).upper() in ("Y", "TRUE", "1"))
            else:
                ok = ok and str(actual).casefold() == str(expected).casefold()
        if ok:
            shown.append(record)
    return Listing(shown)


def profile(state: PortalState, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    user = next(u for u in state.users if int(u["ID"]) == caller.user_id)
    return {**_user_shown(user), "ADMIN": bool(user.get("ADMIN", False))}


def scope(state: PortalState, params: dict[str, Any], caller: Caller) -> list[str]:
    return sorted(caller.scopes)


def category_list(state: PortalState, params: dict[str, Any], caller: Caller) -> Listing:
    if str(param(params, "entityTypeId", "")) != "2":
        raise invalid("Parameter 'entityTypeId' is invalid: only deals (2) have funnels here.")
    categories = [
        {
            "id": int(c["id"]),
            "name": c["name"],
            "sort": int(c.get("sort", 100)),
            "entityTypeId": 2,
            "isDefault": "Y" if int(c["id"]) == 0 else "N",
        }
        for c in state.categories
    ]
    return Listing(categories, key="categories")


def status_list(state: PortalState, params: dict[str, Any], caller: Caller) -> Listing:
    flt = param(params, "filter") or {}
    entity = str(flt.get("ENTITY_ID", "")) if isinstance(flt, dict) else ""
    if entity == "STATUS":
        stages: list[dict[str, Any]] = [
            {"STATUS_ID": s, "NAME": s.title(), "SEMANTICS": "process"} for s in LEAD_STATUSES
        ]
        category = None
    elif entity.startswith("DEAL_STAGE"):
        category = int(entity.removeprefix("DEAL_STAGE").lstrip("_") or 0)
        stages = state.stages(category)
    else:
        raise invalid("Filter ENTITY_ID is required here (DEAL_STAGE, DEAL_STAGE_{id}, STATUS).")
    answer = []
    for index, stage in enumerate(stages):
        semantics = stage.get("SEMANTICS", "process")
        answer.append(
            {
                "ID": str(index + 1 + 200 * (category or 0)),
                "ENTITY_ID": entity,
                "STATUS_ID": stage["STATUS_ID"],
                "NAME": stage["NAME"],
                "NAME_INIT": stage["NAME"],
                "SORT": str(stage.get("SORT", (index + 1) * 10)),
                "SYSTEM": "N",
                "CATEGORY_ID": None if category is None else str(category),
                "SEMANTICS": {"success": "S", "failure": "F"}.get(semantics),
                "EXTRA": {"SEMANTICS": semantics, "COLOR": "#39A8EF"},
            }
        )
    return Listing(answer)


def comment_add(state: PortalState, params: dict[str, Any], caller: Caller) -> int:
    fields = param(params, "fields")
    if not isinstance(fields, dict):
        raise invalid("Parameter 'fields' must be array.")
    kind = str(fields.get("ENTITY_TYPE", "")).lower()
    entity_id = as_int(fields.get("ENTITY_ID"), "ENTITY_ID")
    if kind not in state.entities or entity_id not in state.entities[kind]:
        raise invalid(f"The {kind or 'entity'} {entity_id} is not found.")
    if not str(fields.get("COMMENT") or "").strip():
        raise invalid("Parameter 'COMMENT' is empty.")
    comment_id = state.new_id()
    state.comments[comment_id] = {
        "ID": comment_id,
        "ENTITY_TYPE": kind,
        "ENTITY_ID": entity_id,
        "COMMENT": fields["COMMENT"],
        "AUTHOR_ID": caller.user_id,
    }
    return comment_id


def task_add(state: PortalState, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    fields = param(params, "fields")
    if not isinstance(fields, dict):
        raise invalid("Parameter 'fields' must be array.")
    if not str(fields.get("TITLE") or "").strip():
        raise invalid("TITLE: the task has no title.")
    if not fields.get("RESPONSIBLE_ID"):
        raise invalid("RESPONSIBLE_ID: the task has no responsible person.")
    deadline = fields.get("DEADLINE")
    if deadline:
        try:
            datetime.fromisoformat(str(deadline))
        except ValueError:
            raise invalid(f"DEADLINE: '{deadline}' is not a date.") from None
    bindings = [str(b) for b in as_list(fields.get("UF_CRM_TASK"))]
    for binding in bindings:
        prefix, _, entity_id = binding.partition("_")
        if prefix not in TASK_BINDINGS or not entity_id.isdigit():
            raise invalid(f"UF_CRM_TASK: '{binding}' is not a CRM binding such as D_10.")
    task_id = state.new_id()
    task = {
        "id": str(task_id),
        "title": str(fields["TITLE"]),
        "description": str(fields.get("DESCRIPTION") or ""),
        "responsibleId": str(fields["RESPONSIBLE_ID"]),
        "createdBy": str(fields.get("CREATED_BY") or caller.user_id),
        "deadline": deadline,
        "ufCrmTask": bindings,
        "status": "2",
        "group": [],
    }
    state.tasks[task_id] = task
    return {"task": task}


# method → (scope it needs, handler)
METHODS: dict[str, tuple[str | None, Handler]] = {
    "profile": (None, profile),
    "scope": (None, scope),
    "user.get": ("user", user_get),
    "crm.contact.add": ("crm", adder("contact")),
    "crm.contact.update": ("crm", updater("contact")),
    "crm.contact.get": ("crm", getter("contact")),
    "crm.contact.list": ("crm", lister("contact")),
    "crm.contact.fields": ("crm", describer("contact")),
    "crm.deal.add": ("crm", adder("deal")),
    "crm.deal.update": ("crm", updater("deal")),
    "crm.deal.get": ("crm", getter("deal")),
    "crm.deal.list": ("crm", lister("deal")),
    "crm.deal.fields": ("crm", describer("deal")),
    "crm.lead.add": ("crm", adder("lead")),
    "crm.lead.get": ("crm", getter("lead")),
    "crm.lead.list": ("crm", lister("lead")),
    "crm.lead.fields": ("crm", describer("lead")),
    "crm.duplicate.findbycomm": ("crm", find_by_comm),
    "crm.category.list": ("crm", category_list),
    "crm.status.list": ("crm", status_list),
    "crm.timeline.comment.add": ("crm", comment_add),
    "tasks.task.add": ("task", task_add),
}
