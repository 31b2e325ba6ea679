"""How RetailCRM's API reads a request and writes an answer, for the emulator.

Parameters come PHP style: ``filter[ids][]=1&filter[ids][]=2&filter[name]=Анна`` in the query of
a GET or in the form body of a POST, where entities travel as JSON text in one field
(``customer={...}``). Every answer is a JSON object with ``success``; an error adds ``errorMsg``
and, for entity errors, ``errors`` by field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from jivocrm.connectors.retailcrm.emulator_state import Invalid


def nested(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``[("filter[ids][]", "1"), ("filter[name]", "x")]`` → ``{"filter": {"ids": ["1"], ...}}``.

    A plain ``filter=None`` (what a client sends for "no filter") stays a string, which readers
    of ``filter`` ignore.
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + [p.rstrip("]") for p in rest.split("[")] if rest else [head]
        node: Any = out
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            following = "" if last else parts[n + 1]
            if last:
                if part == "" and isinstance(node, list):
                    node.append(value)
                elif isinstance(node, dict):
                    node[part] = value
                break
            if part == "" and isinstance(node, list):
                child: Any = [] if following == "" else {}
                node.append(child)
                node = child
                continue
            if not isinstance(node, dict):
                break
            if not isinstance(node.get(part), (dict, list)):
                node[part] = [] if following == "" else {}
            node = node[part]
    return out


async def params(request: web.Request) -> dict[str, Any]:
    """The request's parameters: the query, and for a POST its form body on top."""
    pairs = list(parse_qsl(request.query_string, keep_blank_values=True))
    if request.method == "POST" and request.can_read_body:
        body = (await request.read()).decode("utf-8", "replace")
        pairs += parse_qsl(body, keep_blank_values=True)
    return nested(pairs)


def filters(values: Mapping[str, Any]) -> dict[str, Any]:
    found = values.get("filter")
    return found if isinstance(found, dict) else {}


def entity(values: Mapping[str, Any], field: str) -> dict[str, Any]:
    """The JSON object a write carries in form field ``field``."""
    raw = values.get(field)
    if raw is None:
        raise Invalid(f"Parameter '{field}' is missing")
    try:
        data = json.loads(str(raw))
    except ValueError:
        raise Invalid(f"Parameter '{field}' must be a JSON object") from None
    if not isinstance(data, dict):
        raise Invalid(f"Parameter '{field}' must be a JSON object")
    return data


PAGE_LIMITS = (20, 50, 100)


def page(
    values: Mapping[str, Any], items: list[Any], largest: int
) -> tuple[list[Any], dict[str, int]]:
    """One page of ``items`` as ``limit`` and ``page`` ask, with the ``pagination`` block."""
    try:
        limit = int(values.get("limit") or 20)
        number = int(values.get("page") or 1)
    except ValueError:
        raise Invalid("Errors in the input parameters", {"limit": "Not a number."}) from None
    if limit not in PAGE_LIMITS:
        raise Invalid(
            "Errors in the input parameters", {"limit": "The value should be 20, 50 or 100."}
        )
    if number < 1:
        raise Invalid("Errors in the input parameters", {"page": "The value should be >= 1."})
    limit = min(limit, largest)
    start = (number - 1) * limit
    total = len(items)
    return items[start : start + limit], {
        "limit": limit,
        "totalCount": total,
        "currentPage": number,
        "totalPageCount": max(1, -(-total // limit)),
    }


def ok(status: int = 200, **fields: Any) -> web.Response:
    return answer({"success": True, **fields}, status)


def answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def failed(status: int, message: str, errors: Mapping[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"success": False, "errorMsg": message}
    if errors:
        body["errors"] = dict(errors)
    return web.json_response(body, status=status)


__all__ = ["PAGE_LIMITS", "answer", "entity", "failed", "filters", "nested", "ok", "page", "params"]
