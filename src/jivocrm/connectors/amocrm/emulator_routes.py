"""The amoCRM emulator's API routes: /api/v4/... and /oauth2/access_token."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from jivocrm.connectors.amocrm.emulator_state import AccountState, ValidationFailed

STATE = web.AppKey("amocrm_state", AccountState)
MAX_BATCH = 250
ENTITIES = ("leads", "contacts", "companies")
NOTE_TYPES = {"common", "call_in", "call_out", "service_message", "sms_in", "sms_out"}


class Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    body = {"title": title, "type": f"https://httpstatus.es/{status}", "status": status}
    return web.json_response(
        {**body, "detail": detail, **extra},
        status=status,
        content_type="application/problem+json",
        dumps=_dumps,
    )


def hal(data: Any) -> web.Response:
    return web.json_response(data, content_type="application/hal+json", dumps=_dumps)


def guarded(
    handler: Callable[[web.Request, AccountState], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request, request.app[STATE])
        except Refused as exc:
            return exc.response
        except ValidationFailed as exc:
            failed = [{"request_id": exc.request_id, "errors": exc.errors}]
            return problem(
                400, "Bad Request", "Request validation failed", **{"validation-errors": failed}
            )

    return wrapper


async def array_body(request: web.Request) -> list[dict[str, Any]]:
    """amoCRM write bodies are JSON arrays of 1..250 objects; anything else is refused."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not body:
        raise Refused(problem(400, "Bad Request", "Request data cannot be blank"))
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise Refused(problem(400, "Bad Request", "Request body must be an array of objects"))
    if len(body) > MAX_BATCH:
        raise Refused(problem(422, "Unprocessable Entity", "Too many entities, limit 250"))
    return body


async def object_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body:
        raise Refused(problem(400, "Bad Request", "Request data cannot be blank"))
    return body


def rid(item: dict[str, Any], n: int) -> str:
    return str(item.get("request_id", n))


def self_link(request: web.Request, path: str) -> dict[str, Any]:
    return {"self": {"href": f"{request.url.origin()}{path}"}}


def paged(
    request: web.Request,
    state: AccountState,
    items: list[dict[str, Any]],
    key: str,
    *,
    max_limit: int = MAX_BATCH,
    **extra: Any,
) -> web.Response:
    try:
        page = max(1, int(request.query.get("page", "1")))
        limit = max(1, int(request.query.get("limit", "50")))
    except ValueError:
        raise Refused(problem(400, "Bad Request", "page and limit must be numbers")) from None
    limit = min(limit, max_limit, state.faults.page_size)
    chunk = items[(page - 1) * limit : page * limit]
    if not chunk:
        # amoCRM answers 204 with an empty body when a list or search finds nothing.
        return web.Response(status=204)
    url = request.url.with_query({**request.query, "page": str(page), "limit": str(limit)})
    links: dict[str, Any] = {"self": {"href": str(url)}}
    if page * limit < len(items):
        links["next"] = {"href": str(url.update_query(page=str(page + 1)))}
    if page > 1:
        links["prev"] = {"href": str(url.update_query(page=str(page - 1)))}
    return hal({**extra, "_page": page, "_links": links, "_embedded": {key: chunk}})


def check_user(state: AccountState, value: Any, rid_: str, path: str) -> None:
    if value is not None and value not in state.users:
        detail = "The value you selected is not a valid choice."
        raise ValidationFailed(
            rid_, [{"code": "NotSupportedChoice", "path": path, "detail": detail}]
        )


def invalid(rid_: str, code: str, path: str, detail: str) -> ValidationFailed:
    return ValidationFailed(rid_, [{"code": code, "path": path, "detail": detail}])


# ---- OAuth ---------------------------------------------------------------------------------
async def access_token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body = await request.json()
    except ValueError:
        body = None
    answer = state.token_grant(body if isinstance(body, dict) else {})
    if isinstance(answer, str):
        return web.json_response(
            {
                "hint": answer,
                "title": "Некорректный запрос",
                "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
                "status": 400,
                "detail": "В запросе отсутствует ряд параметров или параметры невалидны",
            },
            status=400,
            content_type="application/problem+json",
            dumps=_dumps,
        )
    return web.json_response(answer)


def now() -> int:
    return int(time.time())


def new_uid() -> str:
    return secrets.token_hex(20)
