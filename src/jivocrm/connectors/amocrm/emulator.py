"""A local amoCRM v4: the documented routes, shapes, status codes and quirks, in memory.

Quirks kept on purpose, because the connector must cope with them on a real account:
204 with an empty body for an empty search; write bodies must be JSON arrays (an object is a
400); ``request_id`` echoed; ``/leads/complex`` answers a bare array whose ``request_id`` is an
array; ``/users`` is 403 for a non-admin token; more than 7 requests in a sliding second is a 429
problem JSON with ``retry_after`` in the body; errors are ``application/problem+json``, successes
``application/hal+json``; the OAuth endpoint rotates single-use refresh tokens.

Test hooks: GET /_emulator/state, POST /_emulator/faults, POST /_emulator/reset,
POST /_emulator/expire_tokens. ``running_emulator`` serves it on 127.0.0.1, port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web

from jivocrm.connectors.amocrm import emulator_entities as ent
from jivocrm.connectors.amocrm import emulator_leads as leads
from jivocrm.connectors.amocrm import emulator_notes as notes
from jivocrm.connectors.amocrm.emulator_routes import STATE, access_token, guarded, problem
from jivocrm.connectors.amocrm.emulator_state import AccountState, Faults, load_seed

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if request.path.startswith("/_emulator/"):
        return await handler(request)
    now = time.monotonic()
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "time": now,
        "status": None,
    }
    state.requests.append(entry)
    response = await _faulty(request, handler, state)
    entry["status"] = response.status
    return response


async def _faulty(
    request: web.Request, handler: Handler, state: AccountState
) -> web.StreamResponse:
    faults, rng = state.faults, state.rng
    if faults.drop_rate and rng.random() < faults.drop_rate:
        assert request.transport is not None
        request.transport.close()
        raise asyncio.CancelledError  # aiohttp ends the handler; the client sees a disconnect
    if faults.timeout_rate and rng.random() < faults.timeout_rate:
        await asyncio.sleep(faults.hang)
    if faults.latency:
        await asyncio.sleep(faults.latency)
    if faults.auth_failure:
        return problem(401, "Unauthorized", "Неверный логин или пароль")
    if faults.status and request.path.startswith("/api/"):
        return _forced(faults.status)
    if request.path.startswith("/api/"):
        wait = state.admit(time.monotonic())
        if wait is not None:
            return _too_many(max(1, round(wait + 0.5)))
    if faults.rate_429 and rng.random() < faults.rate_429:
        return _too_many(faults.retry_after)
    if faults.error_rate and rng.random() < faults.error_rate:
        return problem(500, "ErrInternalServer", "Internal error", trace_id="emulator")
    return await handler(request)


# The bodies amoCRM documents for these statuses; others get a generic problem JSON.
_FORCED = {
    402: ("Payment Required", "Payment required"),
    403: ("Forbidden", "Access denied"),
    404: ("Not Found", "Not found"),
    422: ("Unprocessable Entity", "Too many entities, limit 250"),
}


def _forced(status: int) -> web.Response:
    title, detail = _FORCED.get(status, (HTTPStatus(status).phrase, HTTPStatus(status).phrase))
    return problem(status, title, detail)


def _too_many(retry_after: float) -> web.Response:
    detail = "You have sent too many requests in a given amount of time. Please try again later."
    return problem(429, "Too Many Requests", detail, retry_after=retry_after)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    state = request.app[STATE]
    if state.user_for(request.headers.get("Authorization", "")) is None:
        return problem(401, "Unauthorized", "Неверный логин или пароль")
    return await handler(request)


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].snapshot())


async def set_faults(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        state.faults.update(await request.json())
    except (ValueError, TypeError) as exc:
        return problem(400, "Bad Request", str(exc))
    return web.json_response({"faults": state.snapshot()["faults"]})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def expire_tokens(request: web.Request) -> web.Response:
    request.app[STATE].expire_access_tokens()
    return web.json_response({"expired": True})


def create_app(
    seed: Path | None = None, *, random_seed: int | None = None, **faults: Any
) -> web.Application:
    """The emulator app; ``faults`` are ``Faults`` knobs (latency, error_rate, page_size, ...)."""
    knobs = Faults()
    knobs.update(faults)
    app = web.Application(middlewares=[faults_middleware, auth_middleware])
    app[STATE] = AccountState(load_seed(seed), knobs, random.Random(random_seed))
    app.router.add_get("/_emulator/state", get_state)
    app.router.add_post("/_emulator/faults", set_faults)
    app.router.add_post("/_emulator/reset", reset)
    app.router.add_post("/_emulator/expire_tokens", expire_tokens)
    _add_api_routes(app)
    return app


def _add_api_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/oauth2/access_token", access_token)
    r.add_get("/api/v4/users", guarded(ent.users))
    r.add_get("/api/v4/contacts", guarded(ent.list_contacts))
    r.add_post("/api/v4/contacts", guarded(ent.create_contacts))
    r.add_get(r"/api/v4/contacts/{id:\d+}", guarded(ent.get_contact))
    r.add_patch(r"/api/v4/contacts/{id:\d+}", guarded(ent.patch_contact))
    r.add_post("/api/v4/leads/complex", guarded(leads.create_complex))
    r.add_post("/api/v4/leads/unsorted/forms", guarded(leads.create_unsorted))
    r.add_get("/api/v4/leads/pipelines", guarded(ent.pipelines))
    r.add_get("/api/v4/leads", guarded(leads.list_leads))
    r.add_post("/api/v4/leads", guarded(leads.create_leads))
    r.add_get(r"/api/v4/leads/{id:\d+}", guarded(leads.get_lead))
    r.add_patch(r"/api/v4/leads/{id:\d+}", guarded(leads.patch_lead))
    r.add_post(r"/api/v4/leads/{id:\d+}/link", guarded(leads.link_lead))
    entity = "{entity:leads|contacts|companies}"
    r.add_get(f"/api/v4/{entity}/custom_fields", guarded(ent.fields))
    r.add_post(f"/api/v4/{entity}/notes", guarded(ent.create_notes))
    r.add_get(f"/api/v4/{entity}/{{entity_id:\\d+}}/notes", guarded(notes.list_entity_notes))
    r.add_post("/api/v4/tasks", guarded(ent.create_tasks))


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
    # A short shutdown timeout: "timeout" faults leave handlers sleeping that nobody awaits.
    runner = web.AppRunner(app, shutdown_timeout=0.2, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield RunningEmulator(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()
