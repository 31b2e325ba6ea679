"""The connection entry of a RetailCRM account under ``connections:``, as JSON Schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.spec import SECRET, ConfigProblem, common_properties, https_problem

# Loopback hosts may use plain http (local emulators, tests); everything else must be https.
ENV_REFERENCE = r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$"
URL_PATTERN = r"^(https://[^/\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?)/?$"
DEFAULT_RATE = (10.0, 1)

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "RetailCRM connection",
    "type": "object",
    "additionalProperties": False,
    "required": ["api_key"],
    "properties": {
        "type": {"const": "retailcrm"},
        "url": {
            "type": "string",
            # A ${ENV} reference is checked when it is resolved (validate has no values).
            "anyOf": [{"pattern": URL_PATTERN}, {"pattern": ENV_REFERENCE}],
            "description": "The account's address, e.g. https://myshop.retailcrm.ru (https only,"
            " except loopback hosts).",
        },
        "api_key": {
            **SECRET,
            "description": "An API key (Settings › Integration › API access keys) with access to"
            " customers, orders, tasks, users and reference data.",
        },
        "site": {
            "type": "string",
            "minLength": 1,
            "description": "The store's code that customers and orders are written to. Needed"
            " when the key reaches several stores; a deal's `pipeline` names the store too.",
        },
        "order_method": {
            "type": "string",
            "minLength": 1,
            "description": "The order method (its code) of the orders jivocrm creates, e.g."
            " live-chat.",
        },
        **common_properties(
            "RetailCRM",
            DEFAULT_RATE[0],
            DEFAULT_RATE[1],
            "RetailCRM allows 10 requests/s per API key; every bundle and daemon shares it.",
        ),
    },
    "anyOf": [
        {"required": ["url"]},
        {"properties": {"emulate": {"const": True}}, "required": ["emulate"]},
    ],
}

EXAMPLE: dict[str, Any] = {
    "type": "retailcrm",
    "url": "https://myshop.retailcrm.ru",
    "api_key": "${RETAILCRM_API_KEY}",
    "site": "shop",
}


ADDRESS_FORM = "https://myshop.retailcrm.ru"


def check_config(config: Mapping[str, Any]) -> list[ConfigProblem]:
    """The address written literally (a ``${VAR}`` is checked when it is resolved)."""
    url = config.get("url")
    if isinstance(url, str) and url.strip() and "${" not in url:
        problem = https_problem(url, ADDRESS_FORM, "RetailCRM")
        if problem is not None:
            return [(("url",), problem)]
    return []
