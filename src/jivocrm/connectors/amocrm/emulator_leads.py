"""The amoCRM emulator's lead handlers: leads, links, /leads/complex and unsorted forms."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jivocrm.connectors.amocrm.emulator_entities import by_id, contact_from, patch_fields, store
from jivocrm.connectors.amocrm.emulator_routes import (
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


# ---- leads ---------------------------------------------------------------------------------
def _lead_json(request: web.Request, state: AccountState, lead: dict[str, Any]) -> dict[str, Any]:
    embedded: dict[str, Any] = {"tags": list(lead.get("tags") or []), "companies": []}
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
    leads = sorted(state.leads.values(), key=by_id)
    if wanted:
        ids = {int(v) for v in wanted if v.isdigit()}
        leads = [lead for lead in leads if lead["id"] in ids]
    return paged(request, state, [_lead_json(request, state, lead) for lead in leads], "leads")


async def get_lead(request: web.Request, state: AccountState) -> web.Response:
    lead = state.leads.get(int(request.match_info["id"]))
    if lead is None:
        # amoCRM answers 204 with an empty body for an id it does not have.
        return web.Response(status=204)
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
        "tags": state.tags((item.get("_embedded") or {}).get("tags") or [], rid_),
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
        lid = store(state, state.leads, lead)
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
    patch_fields(state, lead, "leads", item)
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


MAX_COMPLEX = 50  # leads per /leads/complex request


def _company_from(state: AccountState, item: dict[str, Any], rid_: str) -> dict[str, Any]:
    if not isinstance(item.get("name"), str) or not item["name"]:
        raise invalid(rid_, "FieldMissing", "_embedded.companies.0.name", "This field is missing.")
    check_user(state, item.get("responsible_user_id"), rid_, "responsible_user_id")
    return {
        "id": 0,
        "name": item["name"],
        "responsible_user_id": item.get("responsible_user_id", min(state.users, default=0)),
        "created_at": now(),
        "updated_at": now(),
        "custom_fields_values": state.field_values(
            "companies", item.get("custom_fields_values") or [], rid_
        ),
    }


def _one(item: dict[str, Any], key: str, rid_: str) -> list[dict[str, Any]]:
    found = (item.get("_embedded") or {}).get(key) or []
    if len(found) > 1:
        # /leads/complex takes at most one contact and one company per lead.
        raise invalid(rid_, "TooManyEntities", f"_embedded.{key}", "Only one entity is allowed.")
    return list(found)


async def create_complex(request: web.Request, state: AccountState) -> web.Response:
    body = await array_body(request)
    if len(body) > MAX_COMPLEX:
        raise Refused(problem(400, "Bad Request", f"Too many entities, limit {MAX_COMPLEX}"))
    made = []
    for n, item in enumerate(body):
        rid_ = rid(item, n)
        contacts, companies = _one(item, "contacts", rid_), _one(item, "companies", rid_)
        contact = contact_from(state, contacts[0], rid_) if contacts else None
        company = _company_from(state, companies[0], rid_) if companies else None
        merged = (
            state.duplicate_of(contacts[0]) if contacts and state.faults.duplicate_control else None
        )
        made.append((_lead_from(state, item, rid_), contact, company, merged, rid_))
    out = []
    for lead, contact, company, merged, rid_ in made:
        if merged is not None:
            # Duplicate control: the request joins the deal and contact the account has.
            old_lead, old_contact = merged
            known = sorted(c for lead_id, c in state.company_links if lead_id == old_lead)
            out.append(
                {
                    "id": old_lead,
                    "contact_id": old_contact,
                    "company_id": known[0] if known else None,
                    "request_id": [rid_],
                    "merged": True,
                }
            )
            continue
        lid = store(state, state.leads, lead)
        cid = store(state, state.contacts, contact) if contact else None
        company_id = store(state, state.companies, company) if company else None
        if cid:
            state.links.add((lid, cid))
        if company_id:
            state.company_links.add((lid, company_id))
        # A bare array, not HAL; request_id is an array.
        out.append(
            {
                "id": lid,
                "contact_id": cid,
                "company_id": company_id,
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
        contact = contact_from(state, contacts[0], rid_) if contacts else None
        prepared.append((item, lead, contact, rid_))
    out = []
    for item, lead, contact, rid_ in prepared:
        lid = store(state, state.leads, lead)
        cid = store(state, state.contacts, {**contact, "is_unsorted": True}) if contact else None
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
