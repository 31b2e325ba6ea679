"""The connection entry of a Bitrix24 portal under ``connections:``, and the webhook URL check."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from jivocrm.connectors.spec import LOOPBACK_HOSTS, SECRET, ConfigProblem, common_properties
from jivocrm.core.i18n import Text

WEBHOOK_FORM = "https://myaccount.bitrix24.ru/rest/1/<code>/"
PORTAL_FORM = "https://myaccount.bitrix24.ru"
DEFAULT_OAUTH_SERVER = "https://oauth.bitrix.info"
# Loopback hosts may use plain http (local emulators, tests); everything else must be https.
URL_PATTERN = r"^(https://[^/\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?)/?$"
_WEBHOOK_PATH = re.compile(r"^/rest/(?P<user>[0-9]+)/(?P<code>[A-Za-z0-9_]+)/?$")

# A value may also be a ${ENV} reference that validate cannot resolve (CI has no secrets).
_URL: dict[str, Any] = {
    "type": "string",
    "anyOf": [{"pattern": URL_PATTERN}, {"pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$"}],
}

_OAUTH: dict[str, Any] = {
    "type": "object",
    "description": "A Bitrix24 application (local or marketplace). Refresh tokens rotate: jivocrm "
    "keeps the newest pair itself, so the values here are only the starting point.",
    "additionalProperties": False,
    "required": ["portal", "client_id", "client_secret", "refresh_token"],
    "properties": {
        "portal": {**_URL, "description": "The portal address, e.g. https://myshop.bitrix24.ru."},
        "client_id": {"type": "string", "minLength": 1, "description": "The application's ID."},
        "client_secret": {**SECRET, "description": "The application's key."},
        "refresh_token": {**SECRET, "description": "A refresh token to start from."},
        "oauth_server": {
            **_URL,
            "default": DEFAULT_OAUTH_SERVER,
            "description": "Where tokens are refreshed; an emulator's URL in tests.",
        },
    },
}

# A portal's leaky bucket: 2 requests/s drained, 50 of burst (Enterprise 5/250).
DEFAULT_RATE = (2.0, 50)

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Bitrix24 connection",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "type": {"const": "bitrix24"},
        "webhook_url": {
            **SECRET,
            "description": f"An incoming webhook: {WEBHOOK_FORM} (Developer resources → "
            "Other → Incoming webhook, scopes crm, user, task).",
        },
        "oauth": _OAUTH,
        **common_properties(
            "Bitrix24",
            2,
            50,
            "Bitrix24's leaky bucket: `rate` requests/s drained, `burst` at once "
            "(standard plans 2 and 50; Enterprise 5 and 250).",
        ),
    },
    # Exactly one way in; the emulator has a default webhook, so `emulate: true` needs neither.
    "not": {"required": ["webhook_url", "oauth"]},
    "if": {"properties": {"emulate": {"const": True}}, "required": ["emulate"]},
    "else": {"anyOf": [{"required": ["webhook_url"]}, {"required": ["oauth"]}]},
}

EXAMPLE: dict[str, Any] = {
    "type": "bitrix24",
    "webhook_url": "${B24_WEBHOOK_URL}",
    "rate_limit": {"rate": 2, "burst": 50},
    "timeout": 10,
}


@dataclass(frozen=True)
class Webhook:
    base: str  # scheme://host[:port]
    portal: str  # host[:port], for UI links
    user_id: str
    code: str


def check_webhook_url(url: str) -> str | None:
    """What is wrong with a webhook URL, as a message that says how to fix it; None when fine."""
    text = url.strip()
    if "://" not in text:
        return Text("add https://, the correct form is {form}", form=WEBHOOK_FORM)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Text("the webhook URL must have the form {form}", form=WEBHOOK_FORM)
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return Text(
            'https required: Bitrix24 refuses plain http (INVALID_REQUEST "Https required");'
            " the correct form is {form}",
            form=WEBHOOK_FORM,
        )
    if not _WEBHOOK_PATH.match(parts.path) or parts.query or parts.fragment:
        # The path is not echoed: it holds the webhook code, which is a secret.
        return Text("the webhook URL must have the form {form}", form=WEBHOOK_FORM)
    return None


def parse_webhook_url(url: str) -> Webhook:
    """The parts of a webhook URL that ``check_webhook_url`` accepted."""
    problem = check_webhook_url(url)
    if problem is not None:
        raise ValueError(problem)
    parts = urlsplit(url.strip())
    match = _WEBHOOK_PATH.match(parts.path)
    assert match is not None
    return Webhook(
        base=f"{parts.scheme}://{parts.netloc}",
        portal=parts.netloc,
        user_id=match["user"],
        code=match["code"],
    )


def check_portal_url(url: str) -> str | None:
    """What is wrong with an OAuth portal or server address; None when fine."""
    text = url.strip()
    if "://" not in text:
        return Text("add https://, the correct form is {form}", form=PORTAL_FORM)
    parts = urlsplit(text)
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return Text("https required: use {form}", form=PORTAL_FORM)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return Text("the address must have the form {form}", form=PORTAL_FORM)
    return None


def check_config(config: Mapping[str, Any]) -> list[ConfigProblem]:
    """Addresses written literally (a ``${VAR}`` is checked when it is resolved)."""
    checks: list[tuple[tuple[str | int, ...], str | None]] = []
    hook = config.get("webhook_url")
    if _literal(hook):
        checks.append((("webhook_url",), check_webhook_url(hook)))
    oauth = config.get("oauth")
    if isinstance(oauth, dict):
        for key in ("portal", "oauth_server"):
            if _literal(oauth.get(key)):
                checks.append((("oauth", key), check_portal_url(oauth[key])))
    return [(path, problem) for path, problem in checks if problem is not None]


def _literal(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip()) and "${" not in value
