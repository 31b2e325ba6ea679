"""The Bitrix24 connection entry: its JSON Schema and the webhook URL check behind `validate`."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from jivocrm.connectors.bitrix24 import SPEC, check_webhook_url
from jivocrm.connectors.bitrix24.schema import SCHEMA, check_portal_url, parse_webhook_url

VALIDATOR = Draft202012Validator(SCHEMA)
OAUTH = {
    "portal": "https://myshop.bitrix24.ru",
    "client_id": "local.abc",
    "client_secret": "${B24_SECRET}",
    "refresh_token": "${B24_REFRESH}",
}


def errors(entry: dict[str, Any]) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(entry)]


def test_schema_is_valid_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SPEC.schema is SCHEMA
    assert errors(dict(SPEC.example)) == []


def test_secrets_are_marked() -> None:
    props = SCHEMA["properties"]
    assert props["webhook_url"]["x-secret"] is True
    assert props["oauth"]["properties"]["client_secret"]["x-secret"] is True
    assert props["oauth"]["properties"]["refresh_token"]["x-secret"] is True
    assert "x-secret" not in props["oauth"]["properties"]["client_id"]


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "bitrix24", "webhook_url": "${B24}"},
        {"webhook_url": "${B24}", "rate_limit": {"rate": 5, "burst": 250}, "timeout": 30},
        {"oauth": OAUTH},
        {"oauth": {**OAUTH, "oauth_server": "http://127.0.0.1:8099"}},
        {"emulate": True},
        {"emulate": True, "seed": "b24-seed.yaml", "retries": {"attempts": 5}},
    ],
)
def test_valid_entries(entry: dict[str, Any]) -> None:
    assert errors(entry) == []


@pytest.mark.parametrize(
    "entry",
    [
        {},  # no way in
        {"webhook_url": "${B24}", "oauth": OAUTH},  # two ways in
        {"webhook_url": "${B24}", "webhok": "typo"},
        {"oauth": {**OAUTH, "portal": "http://myshop.bitrix24.ru"}},
        {"oauth": {k: v for k, v in OAUTH.items() if k != "refresh_token"}},
        {"webhook_url": "${B24}", "rate_limit": {"rate": 0}},
        {"type": "amocrm", "webhook_url": "${B24}"},
    ],
)
def test_invalid_entries(entry: dict[str, Any]) -> None:
    assert errors(entry)


def test_webhook_without_scheme_says_add_https() -> None:
    assert check_webhook_url("myshop.bitrix24.ru/rest/1/abc123/") == (
        "add https://, the correct form is https://myaccount.bitrix24.ru/rest/1/<code>/"
    )


def test_webhook_over_http_needs_https() -> None:
    message = check_webhook_url("http://myshop.bitrix24.ru/rest/1/abc123/")
    assert message is not None
    assert message.startswith("https required")


@pytest.mark.parametrize(
    "url",
    [
        "https://myshop.bitrix24.ru/rest/abc123/",  # user id missing
        "https://myshop.bitrix24.ru/rest/1/",
        "https://myshop.bitrix24.ru/",
        "https://myshop.bitrix24.ru/rest/1/abc123/crm.contact.add/extra",
        "ftp://myshop.bitrix24.ru/rest/1/abc123/",
    ],
)
def test_webhook_with_wrong_shape_shows_the_form(url: str) -> None:
    message = check_webhook_url(url)
    assert (
        message == "the webhook URL must have the form https://myaccount.bitrix24.ru/rest/1/<code>/"
    )


def test_webhook_message_never_shows_the_code() -> None:
    message = check_webhook_url("http://myshop.bitrix24.ru/rest/1/s3cr3tcode/")
    assert message is not None
    assert "s3cr3tcode" not in message


@pytest.mark.parametrize(
    "url",
    [
        "https://myshop.bitrix24.ru/rest/1/abc123/",
        "https://myshop.bitrix24.ru/rest/12/abc123",
        "http://127.0.0.1:8090/rest/1/abc/",
        "http://localhost/rest/1/abc/",
        "http://[::1]:9000/rest/1/abc/",
    ],
)
def test_good_webhooks_pass(url: str) -> None:
    assert check_webhook_url(url) is None


def test_parse_webhook_url() -> None:
    hook = parse_webhook_url("https://myshop.bitrix24.ru/rest/7/abc123/")
    assert (hook.base, hook.portal, hook.user_id, hook.code) == (
        "https://myshop.bitrix24.ru",
        "myshop.bitrix24.ru",
        "7",
        "abc123",
    )
    with pytest.raises(ValueError, match="add https://"):
        parse_webhook_url("myshop.bitrix24.ru/rest/7/abc123/")


def test_portal_url() -> None:
    assert check_portal_url("https://myshop.bitrix24.ru") is None
    assert check_portal_url("http://127.0.0.1:8000") is None
    assert check_portal_url("myshop.bitrix24.ru") == (
        "add https://, the correct form is https://myaccount.bitrix24.ru"
    )
    assert (check_portal_url("http://myshop.bitrix24.ru") or "").startswith("https required")
