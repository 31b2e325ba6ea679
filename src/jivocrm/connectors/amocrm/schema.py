"""The connection entry of an amoCRM (Kommo) account under ``connections:``, as JSON Schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from jivocrm.connectors.spec import SECRET, ConfigProblem, common_properties, https_problem
from jivocrm.core.i18n import Text

# Loopback hosts may use plain http (local emulators, tests); everything else must be https.
ENV_REFERENCE = r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$"
BASE_URL_PATTERN = r"^(https://[^/\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?)(/.*)?$"


_OAUTH: dict[str, Any] = {
    "type": "object",
    "description": "OAuth 2 of an amoCRM integration. Refresh tokens are single-use: jivocrm "
    "keeps the newest pair itself, so the values here are only the starting point.",
    "additionalProperties": False,
    "required": ["client_id", "client_secret", "redirect_uri"],
    "properties": {
        "client_id": {"type": "string", "minLength": 1, "description": "Integration ID."},
        "client_secret": {**SECRET, "description": "Secret key of the integration."},
        "redirect_uri": {"type": "string", "minLength": 1},
        "refresh_token": {**SECRET, "description": "A refresh token to start from."},
        "authorization_code": {
            **SECRET,
            "description": "An authorization code (valid 20 minutes, single use) to exchange.",
        },
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "amoCRM connection",
    "type": "object",
    "additionalProperties": False,
    "required": ["auth"],
    "properties": {
        "type": {"const": "amocrm"},
        "subdomain": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9][A-Za-z0-9-]*$",
            "description": "The account's subdomain: `myshop` for https://myshop.amocrm.ru.",
        },
        "domain": {
            "enum": ["amocrm.ru", "kommo.com", "amocrm.com"],
            "default": "amocrm.ru",
            "description": "amocrm.ru for Russian accounts, kommo.com for Kommo.",
        },
        "base_url": {
            "type": "string",
            # A ${ENV} reference is checked when it is resolved (validate has no values).
            "anyOf": [{"pattern": BASE_URL_PATTERN}, {"pattern": ENV_REFERENCE}],
            "description": "Overrides subdomain/domain. https only, except loopback hosts.",
        },
        "auth": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "long_lived_token": {
                    **SECRET,
                    "description": "A long-lived token of a private integration.",
                },
                "oauth": _OAUTH,
            },
        },
        **common_properties(
            "amoCRM",
            7,
            1,
            "amoCRM allows 7 requests/s per account; every bundle and daemon shares it.",
        ),
    },
    "anyOf": [
        {"required": ["subdomain"]},
        {"required": ["base_url"]},
        {"properties": {"emulate": {"const": True}}, "required": ["emulate"]},
    ],
}

EXAMPLE: dict[str, Any] = {
    "type": "amocrm",
    "subdomain": "myshop",
    "auth": {"long_lived_token": "${AMO_TOKEN}"},
}


ADDRESS_FORM = "https://myshop.amocrm.ru"


def check_config(config: Mapping[str, Any]) -> list[ConfigProblem]:
    """The address written literally (a ``${VAR}`` is checked when it is resolved)."""
    problems: list[ConfigProblem] = []
    url = config.get("base_url")
    if _literal(url) and (problem := https_problem(url, ADDRESS_FORM, "amoCRM")):
        problems.append((("base_url",), problem))
    sub = config.get("subdomain")
    if _literal(sub) and ("." in sub or "/" in sub):
        problems.append((("subdomain",), _subdomain_problem(sub)))
    return problems


def _literal(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip()) and "${" not in value


def _subdomain_problem(text: str) -> str:
    """A whole address written as the subdomain: say which part belongs there."""
    try:
        host = urlsplit(text if "://" in text else f"https://{text}").hostname or text
    except ValueError:
        host = text
    first = host.split(".")[0]
    return Text(
        "write only the subdomain: '{name}' for https://{name}.amocrm.ru (a full address goes"
        " into base_url)",
        name=first,
    )
