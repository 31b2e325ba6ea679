"""Calling Bitrix24 REST: one method, a paged list, or a ``batch`` of up to 50 commands.

Every call is a JSON POST through the connection's ``Transport``. An OAuth call that meets
``expired_token`` refreshes once (under the auth's lock) and is sent once more.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from jivocrm.connectors.bitrix24.auth import Auth, OAuthAuth
from jivocrm.connectors.bitrix24.errors import classify, error_for
from jivocrm.connectors.http import Response, Transport
from jivocrm.connectors.ratelimit import RateLimiter
from jivocrm.core.errors import AuthError, ConnectorError, FatalError
from jivocrm.core.i18n import Text
from jivocrm.core.retry import RetryPolicy

MAX_BATCH = 50

# The method being called, so the one classify can name the scope a 403 asks for.
_calling: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bitrix24_method", default=None
)


def as_map(value: Any) -> dict[str, Any]:
    """PHP writes an empty map as ``[]``: read ``[]``, ``{}`` and null alike."""
    return dict(value) if isinstance(value, Mapping) else {}


def as_items(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    return list(value) if isinstance(value, list) else []


def build_query(params: Mapping[str, Any]) -> str:
    """PHP's ``http_build_query``: the form batch commands are written in."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif value is None:
            return
        elif isinstance(value, bool):
            pairs.append((prefix, "1" if value else "0"))
        else:
            pairs.append((prefix, str(value)))

    walk("", params)
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in pairs)


@dataclass
class BatchResult:
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, ConnectorError] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    nexts: dict[str, int] = field(default_factory=dict)

    def following(self, key: str) -> int | None:
        """Where the rest of a list command's result starts, when it did not fit one page."""
        return self.nexts.get(key)

    def get(self, key: str) -> Any:
        """The result of one command, raising its classified error if it failed."""
        if key in self.errors:
            raise self.errors[key]
        return self.results.get(key)


class Rest:
    def __init__(
        self,
        auth: Auth,
        *,
        session: aiohttp.ClientSession,
        name: str,
        limiter: RateLimiter,
        timeout: float,
        retry: RetryPolicy,
    ) -> None:
        self.auth = auth
        self.transport = Transport(
            session,
            name=name,
            limiter=limiter,
            classify=self.classify,
            timeout=timeout,
            retry=retry,
            secrets=auth.secrets,
            user_agent="jivocrm (bitrix24 connector)",
        )
        if isinstance(auth, OAuthAuth):
            auth.transport = self.transport

    def classify(self, response: Response) -> ConnectorError | None:
        if isinstance(self.auth, OAuthAuth):
            self.auth.remember_issued(response.data)
        return classify(response, method=_calling.get(), oauth=self.auth.oauth)

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The whole answer of one method (``result``, ``total``, ``next``, ``time``)."""
        await self.auth.prepare()
        token = _calling.set(method)
        try:
            for attempt in (1, 2):
                stale = self.auth.token()
                url, query = self.auth.endpoint(method)
                try:
                    response = await self.transport.request(
                        "POST", url, json_body=dict(params or {}), params=query or None
                    )
                except AuthError as exc:
                    expired = attempt == 1 and exc.code == "expired_token"
                    if expired and await self.auth.renew(stale):
                        continue
                    raise
                body = response.data
                if not isinstance(body, dict) or "result" not in body:
                    raise FatalError(
                        Text(
                            "Bitrix24 answered {method} without a result: check that the URL"
                            " points at a Bitrix24 portal",
                            method=method,
                        ),
                        status=response.status,
                    )
                return body
        finally:
            _calling.reset(token)
        raise AssertionError("unreachable")  # pragma: no cover

    async def result(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        return (await self.call(method, params))["result"]

    async def list_all(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        start: int = 0,
    ) -> list[Any]:
        """Every item of a list method from ``start`` on, page by page (``start`` = ``next``)."""
        items: list[Any] = []
        while True:
            body = await self.call(method, {**(params or {}), "start": start})
            page = as_map(body["result"]).get(key) if key else body["result"]
            items.extend(as_items(page))
            following = body.get("next")
            if following is None or int(following) <= start:
                return items
            start = int(following)

    async def batch(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any]]], *, halt: bool = False
    ) -> BatchResult:
        """Up to 50 commands in one request; each failed command's error goes through classify."""
        if len(commands) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} commands")
        cmd = {key: f"{method}?{build_query(params)}" for key, (method, params) in commands.items()}
        outer = as_map(await self.result("batch", {"halt": 1 if halt else 0, "cmd": cmd}))
        answer = BatchResult(
            results=as_map(outer.get("result")),
            totals={k: int(v) for k, v in as_map(outer.get("result_total")).items()},
            nexts={k: int(v) for k, v in as_map(outer.get("result_next")).items()},
        )
        for key, problem in as_map(outer.get("result_error")).items():
            detail = as_map(problem)
            answer.errors[key] = error_for(
                None,
                str(detail.get("error") or ""),
                str(detail.get("error_description") or ""),
                method=commands[key][0] if key in commands else None,
                oauth=self.auth.oauth,
            )
        if halt:
            # With halt, the commands after a failed one never ran: say so instead of "missing".
            for key in commands:
                if key not in answer.results and key not in answer.errors and answer.errors:
                    first = next(iter(answer.errors.values()))
                    answer.errors[key] = type(first)(
                        f"not run: an earlier command of the batch failed ({first})",
                        status=first.status,
                        code=first.code,
                    )
        return answer
