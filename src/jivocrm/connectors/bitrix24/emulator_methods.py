"""Every REST method the Bitrix24 emulator knows, with the scope it needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jivocrm.connectors.bitrix24.emulator_crm import (
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
from jivocrm.connectors.bitrix24.emulator_items import deal_contacts, item_list
from jivocrm.connectors.bitrix24.emulator_state import (
    ApiError,
    Caller,
    PortalState,
    communication,
    invalid,
)

TASK_BINDINGS = {"D": "deal", "C": "contact", "L": "lead", "CO": "company"}


def find_by_comm(state: PortalState, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    kind = str(param(params, "type", "") or "").upper()
    if not kind:
        raise ApiError(400, "Communication type is not defined", "Parameter 'type' is required.")
    if kind not in ("PHONE", "EMAIL"):
        raise ApiError(
            400,
            f"Communication type '{kind}' is not supported in current context",
            "Use PHONE or EMAIL.",
        )
    raw_values = param(params, "values")
    values = as_list(raw_values) if isinstance(raw_values, (list, dict)) else []
    if not values:
        raise ApiError(
            400, "Communication values is not defined", "Parameter 'values' must be an array."
        )
    if len(values) > 20:
        raise invalid("Too many values: 20 is the maximum.")
    wanted = {communication(kind, str(v)) for v in values}
    entity_type = str(param(params, "entity_type", "") or "").upper()
    kinds = [entity_type.lower()] if entity_type else ["lead", "contact", "company"]
    found: dict[str, Any] = {}
    for entity in kinds:
        ids = [
            entity_id
            for entity_id, record in sorted(state.entities.get(entity, {}).items())
            if any(communication(kind, item["VALUE"]) in wanted for item in record.get(kind) or [])
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
        raise ApiError(400, "NOT_FOUND", "Smart process not found: only deals (2) here.")
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


# Reference books besides the deal funnels' stages, as a fresh portal holds them.
REFERENCE_BOOKS: dict[str, list[dict[str, Any]]] = {
    "STATUS": [
        {"STATUS_ID": "NEW", "NAME": "Не обработан", "SEMANTICS": "process", "SYSTEM": True},
        {"STATUS_ID": "IN_PROCESS", "NAME": "В работе", "SEMANTICS": "process"},
        {"STATUS_ID": "PROCESSED", "NAME": "Обработан", "SEMANTICS": "process"},
        {"STATUS_ID": "JUNK", "NAME": "Некачественный лид", "SEMANTICS": "failure", "SYSTEM": True},
        {
            "STATUS_ID": "CONVERTED",
            "NAME": "Качественный лид",
            "SEMANTICS": "success",
            "SYSTEM": True,
        },
    ],
    "SOURCE": [
        {"STATUS_ID": code, "NAME": name, "SYSTEM": True}
        for code, name in (
            ("CALL", "Звонок"),
            ("WEB", "Веб-сайт"),
            ("CALLBACK", "Обратный звонок"),
            ("CRM_FORM", "CRM-форма"),
            ("SELF", "Свой контакт"),
            ("OTHER", "Другое"),
        )
    ],
}
SEMANTICS_LETTER = {"success": "S", "failure": "F", "apology": "F"}


def _books(state: PortalState) -> list[tuple[str, str | None, list[dict[str, Any]]]]:
    """(ENTITY_ID, CATEGORY_ID, entries) of every reference book of the portal."""
    books: list[tuple[str, str | None, list[dict[str, Any]]]] = [
        (entity, None, entries) for entity, entries in REFERENCE_BOOKS.items()
    ]
    for category in state.categories:
        cid = int(category["id"])
        entity = "DEAL_STAGE" if cid == 0 else f"DEAL_STAGE_{cid}"
        books.append((entity, None if cid == 0 else str(cid), list(category.get("stages") or [])))
    return books


def status_list(state: PortalState, params: dict[str, Any], caller: Caller) -> Listing:
    """crm.status.list as documented: every reference book unless filtered, ids as strings,
    SEMANTICS null while in progress (S won, F failed, an ``apology`` stage F too)."""
    flt = param(params, "filter") or {}
    if not isinstance(flt, dict):
        raise ApiError(400, "Invalid parameters.", "Incorrect parameters passed.")
    answer = []
    number = 0
    for entity, category, entries in _books(state):
        for index, entry in enumerate(entries):
            number += 1
            semantics = entry.get("SEMANTICS") or "process"
            system = bool(entry.get("SYSTEM")) or (
                entity.startswith("DEAL_STAGE")
                and (index == 0 or semantics in ("success", "failure"))
            )
            row = {
                "ID": str(number),
                "ENTITY_ID": entity,
                "STATUS_ID": entry["STATUS_ID"],
                "NAME": entry["NAME"],
                "NAME_INIT": entry["NAME"] if system else "",
                "SORT": str(entry.get("SORT", (index + 1) * 10)),
                "SYSTEM": "Y" if system else "N",
                "CATEGORY_ID": category,
                "COLOR": entry.get("COLOR", "#39A8EF"),
                "SEMANTICS": SEMANTICS_LETTER.get(semantics),
                "EXTRA": {"SEMANTICS": semantics, "COLOR": entry.get("COLOR", "#39A8EF")},
            }
            if all(str(row.get(k.lstrip("="))) == str(v) for k, v in flt.items()):
                answer.append(row)
    return Listing(answer, paged=False)


def comment_add(state: PortalState, params: dict[str, Any], caller: Caller) -> int:
    fields = param(params, "fields")
    if not isinstance(fields, dict):
        raise invalid("Parameter 'fields' must be array.")
    missing = [k for k in ("ENTITY_ID", "ENTITY_TYPE", "COMMENT") if k not in fields]
    if missing:
        raise ApiError(400, "100", f"Required fields are missing: {', '.join(missing)}")
    kind = str(fields.get("ENTITY_TYPE", "")).lower()
    entity_id = as_int(fields.get("ENTITY_ID"), "ENTITY_ID")
    if kind not in state.entities or entity_id not in state.entities[kind]:
        raise ApiError(400, "NOT_FOUND", f"The {kind or 'entity'} {entity_id} is not found.")
    if not str(fields.get("COMMENT") or "").strip():
        raise ApiError(400, "INVALID_ARG_VALUE", "Empty comment")
    comment_id = state.new_id()
    state.comments[comment_id] = {
        "ID": comment_id,
        "ENTITY_TYPE": kind,
        "ENTITY_ID": entity_id,
        "COMMENT": fields["COMMENT"],
        "AUTHOR_ID": caller.user_id,
        "CREATED": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return comment_id


def comment_list(state: PortalState, params: dict[str, Any], caller: Caller) -> Listing:
    """crm.timeline.comment.list: the comments of one record (the filter must name it)."""
    flt = param(params, "filter")
    flt = flt if isinstance(flt, dict) else {}
    kind = str(param(flt, "ENTITY_TYPE", "") or "").lower()
    if not kind or param(flt, "ENTITY_ID") in (None, ""):
        raise invalid("filter: ENTITY_ID and ENTITY_TYPE are required.")
    entity_id = as_int(param(flt, "ENTITY_ID"), "ENTITY_ID")
    order = param(params, "order") or {}
    descending = isinstance(order, dict) and str(param(order, "ID", "ASC")).upper() == "DESC"
    found = [
        c
        for c in state.comments.values()
        if (c["ENTITY_TYPE"], c["ENTITY_ID"]) == (kind, entity_id)
    ]
    found.sort(key=lambda c: int(c["ID"]), reverse=descending)
    select = [str(s).upper() for s in as_list(param(params, "select"))]
    shown = []
    for comment in found:
        item = {
            "ID": str(comment["ID"]),
            "ENTITY_ID": str(comment["ENTITY_ID"]),
            "ENTITY_TYPE": comment["ENTITY_TYPE"],
            "CREATED": comment.get("CREATED", ""),
            "COMMENT": comment["COMMENT"],
            "AUTHOR_ID": str(comment["AUTHOR_ID"]),
            "FILES": {},
        }
        shown.append({k: v for k, v in item.items() if not select or k in select})
    return Listing(shown)


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
    "crm.lead.update": ("crm", updater("lead")),
    "crm.lead.list": ("crm", lister("lead")),
    "crm.lead.fields": ("crm", describer("lead")),
    "crm.deal.contact.items.get": ("crm", deal_contacts),
    "crm.item.list": ("crm", item_list),
    "crm.duplicate.findbycomm": ("crm", find_by_comm),
    "crm.category.list": ("crm", category_list),
    "crm.status.list": ("crm", status_list),
    "crm.timeline.comment.add": ("crm", comment_add),
    "crm.timeline.comment.list": ("crm", comment_list),
    "tasks.task.add": ("task", task_add),
}
