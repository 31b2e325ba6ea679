"""A Bitrix24 portal and its OAuth server on one aiohttp app, quirks included.

Routes: ``/rest/{user}/{code}/{method}[.json]`` (webhooks), ``/rest/{method}?auth=`` (OAuth),
``/oauth/token/`` (refresh), and for tests ``GET /_emulator/state``, ``POST /_emulator/faults``,
``POST /_emulator/reset``, ``POST /_emulator/expire_tokens``. What Bitrix24 does and we copy:
the ``time`` block on every success, ``total``/``next`` paging, empty maps written as ``[]``, the
portal's leaky bucket answering 503 ``QUERY_LIMIT_EXCEEDED``, ``batch`` with ``$result[key]``
references and per-command errors, 400 with an empty ``error`` for method validation.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from jivocrm.connectors.bitrix24.emulator_dispatch import (
    invoke,
    parse_query,
    php_json,
    run_batch,
    time_block,
)
from jivocrm.connectors.bitrix24.emulator_state import (
    KNOWN_ERRORS,
    ApiError,
    Faults,
    PortalState,
    load_seed,
)


class LeakyBucket:
    """Bitrix24's limit: each request adds one, the level drains ``rate`` per second, and a
    request that would lift it past ``burst`` is refused. ``rate`` 0 switches it off."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = float(rate), int(burst)
        self.level, self.checked = 0.0, time.monotonic()

    def admit(self) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.checked) * self.rate)
        self.checked = now
        if self.level + 1 > self.burst:
            return False
        self.level += 1
        return True


@dataclass
class Emulator:
    state: PortalState
    faults: Faults
    bucket: LeakyBucket
    rng: random.Random = field(default_factory=random.Random)

    def log(self, method: str, status: int, error: str | None, via: str | None) -> None:
        self.state.requests.append(
            {
                "method": method,
                "time": time.monotonic(),
                "status": status,
                "error": error,
                "via": via,
            }
        )


EMULATOR = web.AppKey("bitrix24_emulator", Emulator)


async def _params(request: web.Request) -> dict[str, Any]:
    params = parse_query(request.query_string)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "", "Request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise ApiError(400, "", "Request body must be a JSON object.")
            params.update(body)
        elif request.content_type == "application/x-www-form-urlencoded":
            params.update(parse_query(await request.text()))
    return params


async def _misbehave(request: web.Request, emulator: Emulator) -> web.Response | None:
    """Injected faults, in the order a client would meet them."""
    faults, rng = emulator.faults, emulator.rng
    if faults.drop_rate and rng.random() < faults.drop_rate:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    if faults.timeout_rate and rng.random() < faults.timeout_rate:
        # Never answer: hold on until the client gives up and closes the connection.
        # aiohttp has no disconnect event for a handler, so the transport is polled.
        while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return web.Response(status=504)
    if faults.latency:
        await asyncio.sleep(faults.latency)
    for rate, code in (
        (faults.error_rate, "INTERNAL_SERVER_ERROR"),
        (faults.rate_503, "QUERY_LIMIT_EXCEEDED"),
        (faults.rate_429, "OPERATION_TIME_LIMIT"),
    ):
        if rate and rng.random() < rate:
            return _error(ApiError(KNOWN_ERRORS[code][0], code, KNOWN_ERRORS[code][1]))
    forced = faults.fail_with or faults.auth_failure
    if forced:
        return _error(ApiError(KNOWN_ERRORS[forced][0], forced, KNOWN_ERRORS[forced][1]))
    return None


def _error(exc: ApiError) -> web.Response:
    return web.json_response(
        {"error": exc.code, "error_description": exc.description}, status=exc.status
    )


async def rest(request: web.Request) -> web.StreamResponse:
    emulator = request.app[EMULATOR]
    started = time.time()
    info = request.match_info
    method = info.get("method", info.get("tail", "")).removesuffix(".json")
    via: str | None = None
    faulty = await _misbehave(request, emulator)
    if faulty is not None:
        emulator.log(method, faulty.status, "fault", via)
        return faulty
    try:
        params = await _params(request)
        auth = params.pop("auth", None)
        if "tail" in info:
            # A webhook URL with a part missing (e.g. no user id) reads as an unknown method.
            raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        if not emulator.bucket.admit():
            raise ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
        if "code" in info:
            caller = emulator.state.webhook_caller(info["user"], info["code"])
        else:
            caller = emulator.state.token_caller(str(auth or ""))
        via = caller.via
        if method.lower() == "batch":
            result: Any = run_batch(emulator.state, params, caller)
            total = following = None
        else:
            result, total, following = invoke(emulator.state, method, params, caller)
    except ApiError as exc:
        emulator.log(method, exc.status, exc.code, via)
        return _error(exc)
    body: dict[str, Any] = {"result": result}
    if total is not None:
        body["total"] = total
    if following is not None:
        body["next"] = following
    body["time"] = time_block(started)
    emulator.log(method, 200, None, via)
    return web.json_response(php_json(body))


async def oauth_token(request: web.Request) -> web.Response:
    """The OAuth server: refresh tokens rotate, and a used one is refused (``invalid_grant``)."""
    emulator = request.app[EMULATOR]
    state = emulator.state
    query = dict(parse_qsl(request.query_string))
    if request.can_read_body and request.content_type == "application/x-www-form-urlencoded":
        query.update(dict(parse_qsl(await request.text())))
    app = state.apps.get(query.get("client_id", ""))
    failure: ApiError | None = None
    if app is None or app.get("client_secret") != query.get("client_secret"):
        failure = ApiError(401, "invalid_client", "Invalid client credentials")
    elif not app["installed"]:
        failure = ApiError(401, "invalid_client", "Application not installed")
    elif query.get("grant_type") != "refresh_token":
        failure = ApiError(400, "invalid_request", "Only grant_type=refresh_token is emulated")
    grant = state.refresh_tokens.get(query.get("refresh_token", ""))
    if failure is None and (grant is None or grant["client_id"] != query["client_id"]):
        failure = ApiError(400, "invalid_grant", "Invalid refresh token")
    if failure is not None:
        emulator.log("oauth.token", failure.status, failure.code, "oauth")
        return _error(failure)
    assert grant is not None
    assert app is not None
    del state.refresh_tokens[query["refresh_token"]]
    access, refresh = secrets.token_hex(16), secrets.token_hex(16)
    expires_in = float(app.get("expires_in", 3600))
    state.grant(
        app["client_id"], grant["user_id"], access=access, refresh=refresh, expires_in=expires_in
    )
    emulator.log("oauth.token", 200, None, "oauth")
    base = f"{request.scheme}://{request.host}"
    return web.json_response(
        {
            "access_token": access,
            "client_endpoint": f"{base}/rest/",
            "domain": request.host,
            "expires": int(time.time() + expires_in),
            "expires_in": int(expires_in),
            "member_id": "emulator-member",
            "refresh_token": refresh,
            "scope": ",".join(app.get("scopes") or ()),
            "server_endpoint": f"{base}/rest/",
            "status": "L",
            "user_id": grant["user_id"],
        }
    )


async def get_state(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    snapshot = emulator.state.snapshot()
    snapshot["faults"] = vars(emulator.faults)
    return web.json_response(snapshot)


async def set_faults(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR]
    values = await request.json()
    if not isinstance(values, dict):
        raise web.HTTPBadRequest(text="faults must be a JSON object")
    try:
        configure(emulator, values)
    except (ValueError, TypeError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response({"faults": vars(emulator.faults)})


def configure(emulator: Emulator, values: Mapping[str, Any]) -> None:
    """Apply faults; ``rate_limit: {rate, burst}`` replaces the bucket (rate 0 = off)."""
    values = dict(values)
    if "item_contact_filter" in values:
        emulator.state.item_contact_filter = bool(values.pop("item_contact_filter"))
    limit = values.pop("rate_limit", None)
    if limit is not None:
        emulator.bucket = LeakyBucket(float(limit.get("rate", 0)), int(limit.get("burst", 1)))
    emulator.faults.update(values)


async def reset(request: web.Request) -> web.Response:
    request.app[EMULATOR].state.reset()
    return web.json_response({"reset": True})


async def expire_tokens(request: web.Request) -> web.Response:
    request.app[EMULATOR].state.expire_tokens()
    return web.json_response({"expired": True})


def create_app(
    seed: Path | None = None,
    *,
    faults: Mapping[str, Any] | None = None,
    page_size: int | None = None,
    random_seed: int | None = None,
) -> web.Application:
    """The emulator app; ``faults`` as for ``POST /_emulator/faults`` (``rate_limit`` included)."""
    data = load_seed(seed)
    if page_size is not None:
        data["page_size"] = page_size
    limit = data.get("rate_limit") or {}
    emulator = Emulator(
        state=PortalState(data),
        faults=Faults(),
        bucket=LeakyBucket(float(limit.get("rate", 2)), int(limit.get("burst", 50))),
        rng=random.Random(random_seed),
    )
    configure(emulator, faults or {})
    app = web.Application()
    app[EMULATOR] = emulator
    app.router.add_route("*", "/rest/{user:[0-9]+}/{code}/{method}", rest)
    app.router.add_route("*", "/rest/{method}", rest)
    app.router.add_route("*", "/rest/{tail:.*}", rest)
    app.router.add_route("*", "/oauth/token/", oauth_token)
    app.router.add_route("*", "/oauth/token", oauth_token)
    app.router.add_get("/_emulator/state", get_state)
    app.router.add_post("/_emulator/faults", set_faults)
    app.router.add_post("/_emulator/reset", reset)
    app.router.add_post("/_emulator/expire_tokens", expire_tokens)
    return app


@dataclass
class RunningEmulator:
    url: str
    emulator: Emulator

    @property
    def state(self) -> PortalState:
        return self.emulator.state

    def configure(self, **values: Any) -> None:
        configure(self.emulator, values)

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.state.requests if method is None or r["method"] == method]


@asynccontextmanager
async def running_emulator(
    seed: Path | None = None, **options: Any
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator on 127.0.0.1, a free port; yields its base URL and state."""
    app = create_app(seed, **options)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield RunningEmulator(url=f"http://{host}:{port}", emulator=app[EMULATOR])
    finally:
        await runner.cleanup()


__all__ = ["EMULATOR", "RunningEmulator", "create_app", "running_emulator"]
