"""A local RetailCRM API v5: the documented routes, shapes, status codes and quirks, in memory.

Kept on purpose, because a connector (ours, or RetailCRM's own client) must cope with them on a
real account: the key in ``X-API-KEY`` or an ``apiKey`` parameter, refused with 403; writes as
form fields holding JSON text; ``site`` required when the key reaches several stores; 201 for a
create; reference data as objects keyed by code; ``pagination`` on lists, whose ``limit`` is 20, 50
or 100; a JSON answer for everything, unknown routes included; more requests than the key's limit
in a sliding second answer 503 ``Rate limit exceeded``.

Test hooks: GET /_emulator/state, POST /_emulator/faults, POST /_emulator/reset.
``running_emulator`` serves it on 127.0.0.1, port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from jivocrm.connectors.retailcrm import emulator_handlers as h
from jivocrm.connectors.retailcrm.emulator_state import AccountState, Faults, load_seed
from jivocrm.connectors.retailcrm.emulator_wire import failed, params

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATE = h.STATE
KEY = h.KEY

HTML_PAGE = "<!DOCTYPE html><html><body><h1>Account not found</h1></body></html>"
# The bodies RetailCRM sends with these statuses; others get a generic error.
FORCED = {
    400: "Errors in the input parameters",
    403: "Access denied.",
    404: "Not found",
    500: "Internal server error",
    503: "Rate limit exceeded",
}


@web.middleware
async def journal(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_emulator/"):
        return await handler(request)
    state = request.app[STATE]
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "time": time.monotonic(),
        "status": None,
    }
    state.requests.append(entry)
    try:
        response = await _answer(request, handler, state)
    except web.HTTPException as exc:
        # Unknown routes and methods answer JSON too: clients parse every body as JSON.
        message = "Method not found" if exc.status in (404, 405) else exc.reason
        response = failed(exc.status, message)
    entry["status"] = response.status
    return response


async def _answer(
    request: web.Request, handler: Handler, state: AccountState
) -> web.StreamResponse:
    faults = state.faults
    if faults.latency:
        await asyncio.sleep(faults.latency)
    if faults.html:
        return web.Response(status=404, text=HTML_PAGE, content_type="text/html")
    values = await params(request)
    key = request.headers.get("X-API-KEY") or str(values.get("apiKey") or "")
    if not key:
        return failed(403, '"apiKey" is missing.')
    if key not in state.keys:
        return failed(403, 'Wrong "apiKey" value.')
    if faults.status:
        return failed(faults.status, FORCED.get(faults.status, "Error"))
    if not state.admit(key, time.monotonic()):
        return failed(503, "Rate limit exceeded")
    if faults.rate_503 and state.rng.random() < faults.rate_503:
        return failed(503, "Rate limit exceeded")
    if faults.error_rate and state.rng.random() < faults.error_rate:
        return failed(500, "Internal server error")
    request[KEY] = key
    request[h.PARAMS] = values
    return await handler(request)


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].snapshot())


async def set_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        state.faults.update(await request.json())
    except (ValueError, TypeError) as exc:
        return failed(400, str(exc))
    return web.json_response({"faults": state.snapshot()["faults"]})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


def create_app(
    seed: Path | None = None, *, random_seed: int | None = None, **faults: Any
) -> web.Application:
    """The emulator app; ``faults`` are ``Faults`` knobs (latency, rate_limit, page_size, ...)."""
    knobs = Faults()
    knobs.update(faults)
    app = web.Application(middlewares=[journal])
    app[STATE] = AccountState(load_seed(seed), knobs, random.Random(random_seed))
    r = app.router
    r.add_get("/_emulator/state", get_state)
    r.add_post("/_emulator/faults", set_faults)
    r.add_post("/_emulator/reset", reset)
    r.add_get("/api/api-versions", h.api_versions)
    r.add_get("/api/credentials", h.credentials)
    v5 = "/api/v5"
    r.add_get(f"{v5}/users", h.scoped("user_read", h.list_users))
    r.add_get(v5 + r"/users/{id:\d+}", h.scoped("user_read", h.get_user))
    r.add_get(f"{v5}/customers/notes", h.scoped("customer_read", h.list_notes))
    r.add_post(f"{v5}/customers/notes/create", h.scoped("customer_write", h.create_note))
    r.add_get(f"{v5}/customers", h.scoped("customer_read", h.list_customers))
    r.add_post(f"{v5}/customers/create", h.scoped("customer_write", h.create_customer))
    r.add_get(v5 + "/customers/{id}", h.scoped("customer_read", h.get_customer))
    r.add_post(v5 + "/customers/{id}/edit", h.scoped("customer_write", h.edit_customer))
    r.add_get(f"{v5}/orders", h.scoped("order_read", h.list_orders))
    r.add_post(f"{v5}/orders/create", h.scoped("order_write", h.create_order))
    r.add_get(v5 + "/orders/{id}", h.scoped("order_read", h.get_order))
    r.add_post(v5 + "/orders/{id}/edit", h.scoped("order_write", h.edit_order))
    r.add_get(f"{v5}/tasks", h.scoped("task_read", h.list_tasks))
    r.add_post(f"{v5}/tasks/create", h.scoped("task_write", h.create_task))
    r.add_get(f"{v5}/custom-fields", h.scoped("custom_fields_read", h.custom_fields))
    for kind in h.REFERENCE:
        r.add_get(f"{v5}/reference/{kind}", h.scoped("reference_read", h.reference(kind)))
    return app


@dataclass
class RunningEmulator:
    url: str
    app: web.Application

    @property
    def state(self) -> AccountState:
        return self.app[STATE]


@contextlib.asynccontextmanager
async def running_emulator(
    seed: Path | None = None, *, random_seed: int | None = None, **faults: Any
) -> AsyncIterator[RunningEmulator]:
    """The emulator served on 127.0.0.1 at a free port, for tests and ``emulate: true``."""
    app = create_app(seed, random_seed=random_seed, **faults)
    runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield RunningEmulator(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


__all__ = ["STATE", "RunningEmulator", "create_app", "running_emulator"]
