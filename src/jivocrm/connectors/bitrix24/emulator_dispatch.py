"""How the Bitrix24 emulator runs a call: one method with paging, or a ``batch`` of them.

Also the wire formats: PHP-style query strings (batch commands are written that way) and PHP's
JSON, which writes an empty map as ``[]``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from jivocrm.connectors.bitrix24.emulator_crm import Listing, param
from jivocrm.connectors.bitrix24.emulator_methods import METHODS
from jivocrm.connectors.bitrix24.emulator_state import KNOWN_ERRORS, ApiError, Caller, PortalState

MAX_BATCH = 50
_REFERENCE = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")


def php_json(value: Any) -> Any:
    """PHP serialises an empty associative array as ``[]``: so do we, everywhere."""
    if isinstance(value, dict):
        return {k: php_json(v) for k, v in value.items()} if value else []
    if isinstance(value, list):
        return [php_json(v) for v in value]
    return value


def parse_query(text: str) -> dict[str, Any]:
    """A PHP-style query string (``fields[PHONE][0][VALUE]=…``) as nested maps and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, _, rest = key.partition("[")
        path = [head] + (re.findall(r"\[([^\]]*)\]", "[" + rest) if rest else [])
        node = root
        for index, part in enumerate(path):
            last = index == len(path) - 1
            part = part or str(len(node))  # "[]" appends
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    parsed = _lists(root)
    return parsed if isinstance(parsed, dict) else {}


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def time_block(started: float) -> dict[str, Any]:
    finished = time.time()
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    return {
        "start": started,
        "finish": finished,
        "duration": finished - started,
        "processing": finished - started,
        "date_start": stamp,
        "date_finish": stamp,
        "operating_reset_at": int(started) + 600,
        "operating": 0,
    }


def invoke(state: PortalState, method: str, params: dict[str, Any], caller: Caller) -> Any:
    """Run one method: ``(result, total, next)``."""
    known = METHODS.get(method.lower())
    if known is None:
        raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    scope, handler = known
    if scope is not None and scope not in caller.scopes:
        raise ApiError(403, "insufficient_scope", KNOWN_ERRORS["insufficient_scope"][1])
    result = handler(state, params, caller)
    if not isinstance(result, Listing):
        return result, None, None
    if not result.paged:
        return result.items, len(result.items), None
    start = max(0, int(param(params, "start", 0) or 0))
    page = result.items[start : start + state.page_size]
    more = start + state.page_size < len(result.items)
    shown = {result.key: page} if result.key else page
    return shown, len(result.items), (start + state.page_size if more else None)


def run_batch(state: PortalState, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
    commands = param(params, "cmd") or {}
    if isinstance(commands, list):
        commands = {str(i): c for i, c in enumerate(commands)}
    if not isinstance(commands, dict):
        raise ApiError(400, "", "Parameter 'cmd' must be array.")
    if len(commands) > MAX_BATCH:
        raise ApiError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    halt = str(param(params, "halt", 0)) in ("1", "true", "True", "Y")
    answer: dict[str, dict[str, Any]] = {
        "result": {},
        "result_error": {},
        "result_total": {},
        "result_next": {},
        "result_time": {},
    }
    for key, command in commands.items():
        started = time.time()
        method, _, query = str(command).partition("?")
        method = method.strip().removesuffix(".json")
        try:
            if method.lower() == "batch":
                raise ApiError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed")
            sub = _substitute(parse_query(query), answer["result"])
            result, total, following = invoke(state, method, sub, caller)
        except ApiError as exc:
            answer["result_error"][key] = {"error": exc.code, "error_description": exc.description}
            if halt:
                break
            continue
        answer["result"][key] = result
        if total is not None:
            answer["result_total"][key] = total
        if following is not None:
            answer["result_next"][key] = following
        answer["result_time"][key] = time_block(started)
    return answer


def _substitute(value: Any, results: Mapping[str, Any]) -> Any:
    """Replace ``$result[key][field]…`` with what an earlier command returned."""
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    if not isinstance(value, str) or "$result[" not in value:
        return value

    def resolve(match: re.Match[str]) -> str:
        found: Any = results.get(match[1])
        for part in re.findall(r"\[([^\]]*)\]", match[2]):
            if isinstance(found, dict):
                found = found.get(part)
            elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
                found = found[int(part)]
            else:
                found = None
        return "" if found is None else str(found)

    return _REFERENCE.sub(resolve, value)
