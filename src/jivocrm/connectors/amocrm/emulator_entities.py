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
    new_uid,
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
    if not request["user"].get("is_admin"):
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
    found = state.search_contacts(query) if query else sorted(state.contacts.values(), key=_id)
    # Contacts inside an unsorted request stay invisible until the request is accepted.
    items = [_contact_json(request, state, c) for c in found if not c.get("is_unsorted")]
    return paged(request, state, items, "contacts")


async def get_contact(request: web.Request, state: AccountState) -> web.Response:
    contact = state.contacts.get(int(request.match_info["id"]))
    if contact is None:
        raise Refused(problem(404, "Not Found", "Contact not found"))
    return hal(_contact_json(request, state, contact))


def _contact_from(state: AccountState, item: dict[str, Any], rid_: str) -> dict[str, Any]:
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


def _store(state: AccountState, store: dict[int, dict[str, Any]], entity: dict[str, Any]) -> int:
    entity["id"] = state.new_id()
    store[entity["id"]] = entity
    return int(entity["id"])


async def create_contacts(request: web.Request, state: AccountState) -> web.Response:
    body = await array_body(request)
    made = [(_contact_from(state, item, rid(item, n)), rid(item, n)) for n, item in enumerate(body)]
    out = []
    for contact, rid_ in made:
        cid = _store(state, state.contacts, contact)
        out.append(
            {"id": cid, "request_id": rid_, "_links": self_link(request, f"/api/v4/contacts/{cid}")}
        )
    return hal({"_links": self_link(request, "/api/v4/contacts"), "_embedded": {"contacts": out}})


def _patch_fields(
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
    _patch_fields(state, contact, "contacts", item)
    link = self_link(request, f"/api/v4/contacts/{contact['id']}")
    return hal({"id": contact["id"], "updated_at": contact["updated_at"], "_links": link})


# ---- leads ---------------------------------------------------------------------------------
def _lead_json(request: web.Request, state: AccountState, lead: dict[str, Any]) -> dict[str, Any]:
    embedded: dict[str, Any] = {"tags": [], "companies": []}
    if "contacts" in request.query.get("with", "").split(","):
        ids = sorted(c for lid, c in state.links if lid == lead["id"])
        embedded["contacts"] = [{"id": c} for c in ids]
    return {
        "price": 0,
        "closed_at": None,
        "is_deleted": False,
        **lead,
        "account_id": state.account_id,
        "_links": self_link(request, f"/api/v4/leads/{lead['id']}"),
        "_embedded": embedded,
    }


async def list_leads(request: web.Request, state: AccountState) -> web.Response:
    wanted = request.query.getall("filter[id][]", [])
    leads = sorted(state.leads.values(), key=_id)
    if wanted:
        ids = {int(v) for v in wanted if v.isdigit()}
        leads = [lead for lead in leads if lead["id"] in ids]
    return paged(request, state, [_lead_json(request, state, lead) for lead in leads], "leads")


async def get_lead(request: web.Request, state: AccountState) -> web.Response:
    lead = state.leads.get(int(request.match_info["id"]))
    if lead is None:
        raise Refused(problem(404, "Not Found", "Lead not found"))
    return hal(_lead_json(request, state, lead))


def _place(state: AccountState, item: dict[str, Any], rid_: str, unsorted: bool = False) -> None:
    """Pipeline and status of a lead, checked; the defaults amoCRM applies when omitted."""
    pipeline_id, status_id = item.get("pipeline_id"), item.get("status_id")
    pipelines = state.pipelines
    if pipeline_id is not None:
        pipelines = [p for p in pipelines if p["id"] == pipeline_id]
        if not pipelines:
            detail = "The value you selected is not a valid choice."
            raise invalid(rid_, "NotSupportedChoice", "pipeline_id", detail)
    if status_id is not None:
        for pipeline in pipelines:
            if any(s["id"] == status_id for s in pipeline["statuses"]):
                item["pipeline_id"] = pipeline["id"]
                return
        detail = "The value you selected is not a valid choice."
        raise invalid(rid_, "NotSupportedChoice", "status_id", detail)
    pipeline = next((p for p in pipelines if p.get("is_main")), pipelines[0])
    stages = sorted(pipeline["statuses"], key=lambda s: s.get("sort", 0))
    wanted_type = 1 if unsorted else 0
    stage = next((s for s in stages if s.get("type", 0) == wanted_type), stages[0])
    item["pipeline_id"], item["status_id"] = pipeline["id"], stage["id"]


def _lead_from(state: AccountState, item: dict[str, Any], rid_: str) -> dict[str, Any]:
    if "price" in item and not isinstance(item["price"], int):
        raise invalid(rid_, "InvalidType", "price", "This value should be of type int.")
    check_user(state, item.get("responsible_user_id"), rid_, "responsible_user_id")
    placed = {"pipeline_id": item.get("pipeline_id"), "status_id": item.get("status_id")}
    _place(state, placed, rid_)
    return {
        "id": 0,
        "name": item.get("name") or "Сделка",
        "price": item.get("price", 0),
        "responsible_user_id": item.get("responsible_user_id", min(state.users, default=0)),
        **placed,
        "created_at": now(),
        "updated_at": now(),
        "custom_fields_values": state.field_values(
            "leads", item.get("custom_fields_values") or [], rid_
        ),
    }


def _linked_contacts(state: AccountState, item: dict[str, Any], rid_: str) -> list[int]:
    ids = []
    for n, link in enumerate((item.get("_embedded") or {}).get("contacts") or []):
        cid = link.get("id") if isinstance(link, dict) else None
        if not isinstance(cid, int) or cid not in state.contacts:
            path = f"_embedded.contacts.{n}.id"
            raise invalid(rid_, "NotSupportedChoice", path, "Contact not found")
        ids.append(cid)
    return ids


async def create_leads(request: web.Request, state: AccountState) -> web.Response:
    body = await array_body(request)
    made = []
    for n, item in enumerate(body):
        rid_ = rid(item, n)
        made.append((_lead_from(state, item, rid_), _linked_contacts(state, item, rid_), rid_))
    out = []
    for lead, contacts, rid_ in made:
        lid = _store(state, state.leads, lead)
        state.links |= {(lid, cid) for cid in contacts}
        out.append(
            {"id": lid, "request_id": rid_, "_links": self_link(request, f"/api/v4/leads/{lid}")}
        )
    return hal({"_links": self_link(request, "/api/v4/leads"), "_embedded": {"leads": out}})


async def patch_lead(request: web.Request, state: AccountState) -> web.Response:
    lead = state.leads.get(int(request.match_info["id"]))
    if lead is None:
        raise Refused(problem(404, "Not Found", "Lead not found"))
    item = await object_body(request)
    check_user(state, item.get("responsible_user_id"), "0", "responsible_user_id")
    if "pipeline_id" in item or "status_id" in item:
        placed = {"pipeline_id": item.get("pipeline_id"), "status_id": item.get("status_id")}
        _place(state, placed, "0")
        lead.update(placed)
    for key in ("name", "price", "responsible_user_id"):
        if key in item:
            lead[key] = item[key]
    _patch_fields(state, lead, "leads", item)
    link = self_link(request, f"/api/v4/leads/{lead['id']}")
    return hal({"id": lead["id"], "updated_at": lead["updated_at"], "_links": link})


async def link_lead(request: web.Request, state: AccountState) -> web.Response:
    lid = int(request.match_info["id"])
    if lid not in state.leads:
        raise Refused(problem(404, "Not Found", "Lead not found"))
    body = await array_body(request)
    for n, link in enumerate(body):
        target = link.get("to_entity_id")
        if link.get("to_entity_type") != "contacts" or target not in state.contacts:
            raise invalid("0", "NotSupportedChoice", f"{n}.to_entity_id", "Entity not found")
        state.links.add((lid, int(target)))
    return hal(
        {"_links": self_link(request, f"/api/v4/leads/{lid}/link"), "_embedded": {"links": body}}
    )


async def create_complex(request: web.Request, state: AccountState) -> web.Response:
    body = await array_body(request)
    made = []
    for n, item in enumerate(body):
        rid_ = rid(item, n)
        contacts = (item.get("_embedded") or {}).get("contacts") or []
        contact = _contact_from(state, contacts[0], rid_) if contacts else None
        made.append((_lead_from(state, item, rid_), contact, rid_))
    out = []
    for lead, contact, rid_ in made:
        lid = _store(state, state.leads, lead)
        cid = _store(state, state.contacts, contact) if contact else None
        if cid:
            state.links.add((lid, cid))
        # A bare array, not HAL; request_id is an array. The emulator never merges duplicates
        # (account-level "duplicate control" off), so `merged` is always false.
        out.append(
            {
                "id": lid,
                "contact_id": cid,
                "company_id": None,
                "request_id": [rid_],
                "merged": False,
            }
        )
    return web.json_response(out, content_type="application/hal+json")


async def create_unsorted(request: web.Request, state: AccountState) -> web.Response:
    body = await array_body(request)
    prepared = []
    for n, item in enumerate(body):
        rid_ = rid(item, n)
        for key in ("source_uid", "source_name"):
            if not item.get(key):
                raise invalid(rid_, "FieldMissing", key, "This field is missing.")
        embedded = item.get("_embedded") or {}
        lead_item = dict((embedded.get("leads") or [{}])[0])
        lead_item["pipeline_id"] = item.get("pipeline_id", lead_item.get("pipeline_id"))
        placed = {"pipeline_id": lead_item.get("pipeline_id"), "status_id": None}
        _place(state, placed, rid_, unsorted=True)
        lead = _lead_from(state, {**lead_item, **placed}, rid_)
        contacts = embedded.get("contacts") or []
        contact = _contact_from(state, contacts[0], rid_) if contacts else None
        prepared.append((item, lead, contact, rid_))
    out = []
    for item, lead, contact, rid_ in prepared:
        lid = _store(state, state.leads, lead)
        cid = _store(state, state.contacts, {**contact, "is_unsorted": True}) if contact else None
        if cid:
            state.links.add((lid, cid))
        uid = new_uid()
        state.unsorted.append({"uid": uid, "request": item, "lead_id": lid, "contact_id": cid})
        out.append(
            {
                "uid": uid,
                "account_id": state.account_id,
                "request_id": rid_,
                "_links": self_link(request, f"/api/v4/leads/unsorted/{uid}"),
                "_embedded": {
                    "leads": [{"id": lid}],
                    "contacts": [{"id": cid}] if cid else [],
                    "companies": [],
                },
            }
        )
    return hal({"_total_items": len(out), "_embedded": {"unsorted": out}})


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


def _id(entity: dict[str, Any]) -> int:
    return int(entity["id"])
