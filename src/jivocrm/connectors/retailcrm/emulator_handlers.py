"""The RetailCRM emulator's routes: each reads the parsed parameters and answers as the API does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from jivocrm.connectors.retailcrm.emulator_state import AccountState, Invalid, NotFound
from jivocrm.connectors.retailcrm.emulator_wire import answer, entity, failed, filters, ok, page

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATE = web.AppKey("retailcrm_state", AccountState)
KEY = web.RequestKey("retailcrm_api_key", str)
PARAMS = web.RequestKey("retailcrm_params", dict)
# Reference data: route → (answer key, state attribute)
REFERENCE = {
    "sites": ("sites", "sites"),
    "statuses": ("statuses", "statuses"),
    "status-groups": ("statusGroups", "status_groups"),
    "order-methods": ("orderMethods", "order_methods"),
}


def _state(request: web.Request) -> AccountState:
    return request.app[STATE]


def _values(request: web.Request) -> dict[str, Any]:
    return request[PARAMS]


def scoped(scope: str, handler: Handler) -> Handler:
    """Refuse a key without ``scope``; turn the model's errors into RetailCRM's answers."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        key = request[KEY]
        if scope not in _state(request).keys[key]["scopes"]:
            return failed(403, "Access denied.")
        try:
            return await handler(request)
        except Invalid as exc:
            return failed(400, exc.message, exc.errors)
        except NotFound:
            return failed(404, "Not found")

    return guarded


def _by_id(request: web.Request) -> bool:
    # Without `by`, the identifier in the path is the externalId.
    return str(_values(request).get("by") or "externalId") == "id"


def _lookup(rows: list[dict[str, Any]], request: web.Request) -> dict[str, Any]:
    wanted = request.match_info["id"]
    field = "id" if _by_id(request) else "externalId"
    for row in rows:
        if str(row.get(field)) == wanted:
            return row
    raise NotFound


# ---- unversioned -----------------------------------------------------------------------------
async def api_versions(request: web.Request) -> web.Response:
    return ok(versions=["3.0", "4.0", "5.0"])


async def credentials(request: web.Request) -> web.Response:
    key = _state(request).keys[request[KEY]]
    access = (
        "access_full" if len(key["sites"]) == len(_state(request).sites) else "access_selective"
    )
    return ok(scopes=list(key["scopes"]), siteAccess=access, sitesAvailable=list(key["sites"]))


# ---- users -----------------------------------------------------------------------------------
def _user(user: dict[str, Any]) -> dict[str, Any]:
    return {**user, "status": "free", "online": False}


async def list_users(request: web.Request) -> web.Response:
    state, wanted = _state(request), filters(_values(request))
    users = state.users
    if wanted.get("email"):
        email = str(wanted["email"]).casefold()
        users = [u for u in users if str(u.get("email") or "").casefold() == email]
    for flag in ("active", "isManager"):
        if str(wanted.get(flag, "")) in ("0", "1"):
            users = [u for u in users if bool(u.get(flag)) == (wanted[flag] == "1")]
    items, pagination = page(_values(request), users, state.page_size)
    return ok(pagination=pagination, users=[_user(u) for u in items])


async def get_user(request: web.Request) -> web.Response:
    user = _state(request).user(request.match_info["id"])
    if user is None:
        raise NotFound
    return ok(user=_user(user))


# ---- customers -------------------------------------------------------------------------------
async def list_customers(request: web.Request) -> web.Response:
    state = _state(request)
    found = state.search_customers(filters(_values(request)))
    items, pagination = page(_values(request), found, state.page_size)
    return ok(pagination=pagination, customers=items)


async def create_customer(request: web.Request) -> web.Response:
    state, values = _state(request), _values(request)
    site = state.site_for(request[KEY], values.get("site"))
    made = state.create_customer(entity(values, "customer"), site)
    return ok(201, id=made["id"])


async def get_customer(request: web.Request) -> web.Response:
    return ok(customer=_lookup(_state(request).customers, request))


async def edit_customer(request: web.Request) -> web.Response:
    state = _state(request)
    customer = _lookup(state.customers, request)
    state.edit_customer(customer["id"], entity(_values(request), "customer"))
    return ok(id=customer["id"])


async def list_notes(request: web.Request) -> web.Response:
    state, wanted = _state(request), filters(_values(request))
    notes = state.notes
    ids = wanted.get("customerIds")
    if isinstance(ids, list):
        notes = [n for n in notes if str(n["customer"]["id"]) in {str(i) for i in ids}]
    items, pagination = page(_values(request), notes, state.page_size)
    return ok(pagination=pagination, notes=items)


async def create_note(request: web.Request) -> web.Response:
    return ok(201, id=_state(request).create_note(entity(_values(request), "note"))["id"])


# ---- orders ----------------------------------------------------------------------------------
async def list_orders(request: web.Request) -> web.Response:
    state = _state(request)
    found = state.search_orders(filters(_values(request)))
    items, pagination = page(_values(request), found, state.page_size)
    return ok(pagination=pagination, orders=[_order(state, o) for o in items])


def _order(state: AccountState, order: dict[str, Any]) -> dict[str, Any]:
    # An order carries its customer as an object on reads.
    out = dict(order)
    if order.get("customer") is not None:
        out["customer"] = {"id": order["customer"], "type": "customer"}
    return out


async def create_order(request: web.Request) -> web.Response:
    state, values = _state(request), _values(request)
    site = state.site_for(request[KEY], values.get("site"))
    made = state.create_order(entity(values, "order"), site)
    return ok(201, id=made["id"], order=_order(state, made))


async def get_order(request: web.Request) -> web.Response:
    state = _state(request)
    return ok(order=_order(state, _lookup(state.orders, request)))


async def edit_order(request: web.Request) -> web.Response:
    state = _state(request)
    order = _lookup(state.orders, request)
    edited = state.edit_order(order["id"], entity(_values(request), "order"))
    return ok(id=order["id"], order=_order(state, edited))


# ---- tasks, fields, reference ----------------------------------------------------------------
async def list_tasks(request: web.Request) -> web.Response:
    state = _state(request)
    items, pagination = page(_values(request), state.tasks, state.page_size)
    return ok(pagination=pagination, tasks=items)


async def create_task(request: web.Request) -> web.Response:
    return ok(201, id=_state(request).create_task(entity(_values(request), "task"))["id"])


async def custom_fields(request: web.Request) -> web.Response:
    state, wanted = _state(request), filters(_values(request))
    fields = state.custom_fields
    if wanted.get("entity"):
        fields = [f for f in fields if f["entity"] == wanted["entity"]]
    items, pagination = page(_values(request), fields, state.page_size)
    return ok(pagination=pagination, customFields=items)


def reference(kind: str) -> Handler:
    key, attribute = REFERENCE[kind]

    async def listed(request: web.Request) -> web.Response:
        table: dict[str, dict[str, Any]] = getattr(_state(request), attribute)
        state = _state(request)
        out = {}
        for code, item in table.items():
            entry = {"code": code, "active": True, **item}
            if kind == "statuses":
                entry["group"] = state.group_of(code)
            out[code] = entry
        return answer({"success": True, key: out})

    return listed
