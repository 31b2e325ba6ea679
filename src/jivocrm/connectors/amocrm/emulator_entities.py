"""The amoCRM emulator's entity handlers: users, contacts, leads, unsorted, notes, tasks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jivocrm.connectors.amocrm.emulator_routes import (
    ENTITIES,
    NOTE_TYPES,
    Refused,
    array_body,
    check_user,
    hal,
    invalid,
    now,
    object_body,
    paged,
    problem,
    rid,
    self_link,
)
from jivocrm.connectors.amocrm.emulator_state import AccountState


# ---- users ---------------------------------------------------------------------------------
async def users(request: web.Request, state: AccountState) -> web.Response:
    user = state.user_for(request.headers.get("Authorization", "")) or {}
    if not user.get("is_admin"):
        raise Refused(problem(403, "Forbidden", "Access denied"))
    items = [_user_json(request, u) for u in sorted(state.users.values(), key=lambda u: u["id"])]
    return paged(request, state, items, "users", _total_items=len(items))


def _user_json(request: web.Request, user: dict[str, Any]) -> dict[str, Any]:
    rights = {"is_admin": bool(user.get("is_admin")), "is_active": user.get("is_active", True)}
    return {
        "id": user["id"],
        "name": user.get("name", ""),
        "email": user.get("email"),
        "lang": user.get("lang", "ru"),
        "rights": {**rights, "is_free": False, "group_id": None, "role_id": None},
        "_links": self_link(request, f"/api/v4/users/{user['id']}"),
    }


# ---- contacts ------------------------------------------------------------------------------
def _contact_json(
    request: web.Request, state: AccountState, contact: dict[str, Any]
) -> dict[str, Any]:
    embedded: dict[str, Any] = {"tags": [], "companies": []}
    if "leads" in request.query.get("with", "").split(","):
        embedded["leads"] = [
            {"id": lid, "_links": self_link(request, f"/api/v4/leads/{lid}")}
            for lid in state.leads_of(contact["id"])
        ]
    return {
        "is_deleted": False,
        "is_unsorted": False,
        **contact,
        "account_id": state.account_id,
        "_links": self_link(request, f"/api/v4/contacts/{contact['id']}"),
        "_embedded": embedded,
    }


async def list_contacts(request: web.Request, state: AccountState) -> web.Response:
    query = request.query.get("query")
    found = state.search_contacts(query) if query else sorted(state.contacts.values(), key=by_id)
    # Contacts inside an unsorted request stay invisible until the request is accepted.
    items = [_contact_json(request, state, c) for c in found if not c.get("is_unsorted")]
    return paged(request, state, items, "contacts")


async def get_contact(request: web.Request, state: AccountState) -> web.Response:
    contact = state.contacts.get(int(request.match_info["id"]))
    if contact is None:
        # amoCRM answers 204 with an empty body for an id it does not have.
        return web.Response(status=204)
    return hal(_contact_json(request, state, contact))


def contact_from(state: AccountState, item: dict[str, Any], rid_: str) -> dict[str, Any]:
    for key in ("name", "first_name", "last_name"):
        if key in item and not isinstance(item[key], str):
            raise invalid(rid_, "InvalidType", key, "This value should be of type string.")
    check_user(state, item.get("responsible_user_id"), rid_, "responsible_user_id")
    full = " ".join(filter(None, [item.get("first_name"), item.get("last_name")]))
    return {
        "id": 0,
        "name": item.get("name") or full or "",
        "first_name": item.get("first_name", ""),
        "last_name": item.get("last_name", ""),
        "responsible_user_id": item.get("responsible_user_id", min(state.users, default=0)),
        "created_at": now(),
        "updated_at": now(),
        "custom_fields_values": state.field_values(
            "contacts", item.get("custom_fields_values") or [], rid_
        ),
    }


def store(state: AccountState, store: dict[int, dict[str, Any]], entity: dict[str, Any]) -> int:
    entity["id"] = state.new_id()
    store[entity["id"]] = entity
    return int(entity["id"])


async def create_contacts(request: web.Request, state: AccountState) -> web.Response:
    body = await array_body(request)
    made = [(contact_from(state, item, rid(item, n)), rid(item, n)) for n, item in enumerate(body)]
    out = []
    for contact, rid_ in made:
        cid = store(state, state.contacts, contact)
        out.append(
            {"id": cid, "request_id": rid_, "_links": self_link(request, f"/api/v4/contacts/{cid}")}
        )
    return hal({"_links": self_link(request, "/api/v4/contacts"), "_embedded": {"contacts": out}})


def patch_fields(
    state: AccountState, entity: dict[str, Any], kind: str, item: dict[str, Any]
) -> None:
    if "custom_fields_values" in item:
        new = state.field_values(kind, item["custom_fields_values"], "0")
        changed = {f["field_id"] for f in new}
        kept = [f for f in entity.get("custom_fields_values") or [] if f["field_id"] not in changed]
        # A field sent on PATCH replaces that field's whole value list.
        entity["custom_fields_values"] = kept + new
    entity["updated_at"] = now()


async def patch_contact(request: web.Request, state: AccountState) -> web.Response:
    contact = state.contacts.get(int(request.match_info["id"]))
    if contact is None:
        raise Refused(problem(404, "Not Found", "Contact not found"))
    item = await object_body(request)
    check_user(state, item.get("responsible_user_id"), "0", "responsible_user_id")
    for key in ("name", "first_name", "last_name", "responsible_user_id"):
        if key in item:
            contact[key] = item[key]
    patch_fields(state, contact, "contacts", item)
    link = self_link(request, f"/api/v4/contacts/{contact['id']}")
    return hal({"id": contact["id"], "updated_at": contact["updated_at"], "_links": link})


# ---- metadata ------------------------------------------------------------------------------
async def pipelines(request: web.Request, state: AccountState) -> web.Response:
    items = []
    for n, pipeline in enumerate(state.pipelines):
        statuses = [
            {
                "sort": 0,
                "is_editable": s["id"] not in (142, 143) and s.get("type", 0) == 0,
                "color": "#99ccff",
                **s,
                "pipeline_id": pipeline["id"],
                "account_id": state.account_id,
            }
            for s in pipeline["statuses"]
        ]
        items.append(
            {
                "sort": n + 1,
                "is_main": False,
                "is_unsorted_on": True,
                "is_archive": False,
                **{k: v for k, v in pipeline.items() if k != "statuses"},
                "account_id": state.account_id,
                "_links": self_link(request, f"/api/v4/leads/pipelines/{pipeline['id']}"),
                "_embedded": {"statuses": statuses},
            }
        )
    return hal(
        {
            "_total_items": len(items),
            "_links": self_link(request, "/api/v4/leads/pipelines"),
            "_embedded": {"pipelines": items},
        }
    )


async def fields(request: web.Request, state: AccountState) -> web.Response:
    entity = request.match_info["entity"]
    items = [
        {"sort": n, "is_api_only": False, "enums": None, **f, "entity_type": entity}
        for n, f in enumerate(state.fields.get(entity, []))
    ]
    # amoCRM serves custom fields at most 50 per page, whatever `limit` asks.
    return paged(request, state, items, "custom_fields", max_limit=50)


# ---- notes and tasks -----------------------------------------------------------------------
async def create_notes(request: web.Request, state: AccountState) -> web.Response:
    entity = request.match_info["entity"]
    body = await array_body(request)
    store = {"leads": state.leads, "contacts": state.contacts}.get(entity, {})
    for n, item in enumerate(body):
        if item.get("entity_id") not in store:
            raise invalid(rid(item, n), "NotSupportedChoice", "entity_id", "Entity not found")
        if item.get("note_type") not in NOTE_TYPES:
            raise invalid(rid(item, n), "NotSupportedChoice", "note_type", "Unknown note type")
    out = []
    for n, item in enumerate(body):
        note = {"id": state.new_id(), "entity_type": entity, **item, "created_at": now()}
        state.notes.append(note)
        path = f"/api/v4/{entity}/{item['entity_id']}/notes/{note['id']}"
        out.append(
            {
                "id": note["id"],
                "entity_id": item["entity_id"],
                "request_id": rid(item, n),
                "_links": self_link(request, path),
            }
        )
    return hal(
        {"_links": self_link(request, f"/api/v4/{entity}/notes"), "_embedded": {"notes": out}}
    )


async def create_tasks(request: web.Request, state: AccountState) -> web.Response:
    body = await array_body(request)
    for n, item in enumerate(body):
        rid_ = rid(item, n)
        if not item.get("text"):
            raise invalid(rid_, "FieldMissing", "text", "This field is missing.")
        if not isinstance(item.get("complete_till"), int):
            raise invalid(rid_, "InvalidType", "complete_till", "This value should be of type int.")
        if "entity_type" in item:
            store = {"leads": state.leads, "contacts": state.contacts}.get(item["entity_type"])
            if item["entity_type"] not in (*ENTITIES, "customers") or store is None:
                raise invalid(rid_, "NotSupportedChoice", "entity_type", "Unknown entity type")
            if item.get("entity_id") not in store:
                raise invalid(rid_, "NotSupportedChoice", "entity_id", "Entity not found")
        check_user(state, item.get("responsible_user_id"), rid_, "responsible_user_id")
    out = []
    for n, item in enumerate(body):
        task = {"id": state.new_id(), "task_type_id": 1, **item, "created_at": now()}
        state.tasks.append(task)
        link = self_link(request, f"/api/v4/tasks/{task['id']}")
        out.append({"id": task["id"], "request_id": rid(item, n), "_links": link})
    return hal({"_links": self_link(request, "/api/v4/tasks"), "_embedded": {"tasks": out}})


def by_id(entity: dict[str, Any]) -> int:
    return int(entity["id"])
