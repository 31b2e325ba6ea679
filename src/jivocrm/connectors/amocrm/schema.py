"""The connection entry of an amoCRM (Kommo) account under ``connections:``, as JSON Schema."""

from __future__ import annotations

from typing import Any

# Loopback hosts may use plain http (local emulators, tests); everything else must be https.
BASE_URL_PATTERN = r"^(https://[^/\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?)(/.*)?$"

_SECRET: dict[str, Any] = {"type": "string", "minLength": 1, "x-secret": True}

_OAUTH: dict[str, Any] = {
    "type": "object",
    "description": "OAuth 2 of an amoCRM integration. Refresh tokens are single-use: jivocrm "
    "keeps the newest pair itself, so the values here are only the starting point.",
    "additionalProperties": False,
    "required": ["client_id", "client_secret", "redirect_uri"],
    "properties": {
        "client_id": {"type": "string", "minLength": 1, "description": "Integration ID."},
        "client_secret": {**_SECRET, "description": "Secret key of the integration."},
        "redirect_uri": {"type": "string", "minLength": 1},
        "refresh_token": {**_SECRET, "description": "A refresh token to start from."},
        "authorization_code": {
            **_SECRET,
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
            "pattern": BASE_URL_PATTERN,
            "description": "Overrides subdomain/domain. https only, except loopback hosts.",
        },
        "auth": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "long_lived_token": {
                    **_SECRET,
                    "description": "A long-lived token of a private integration.",
                },
                "oauth": _OAUTH,
            },
        },
        "rate_limit": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "rate": {"type": "number", "exclusiveMinimum": 0, "default": 7},
                "burst": {"type": "integer", "minimum": 1, "default": 1},
            },
        },
        "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        "retries": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "attempts": {"type": "integer", "minimum": 1, "default": 3},
                "initial": {"type": "number", "minimum": 0, "default": 0.5},
                "max_delay": {"type": "number", "minimum": 0, "default": 10},
            },
        },
        "emulate": {"type": "boolean", "default": False},
        "seed": {"type": "string", "description": "Seed YAML of the emulator (emulate: true)."},
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
