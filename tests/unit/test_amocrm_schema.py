"""The amoCRM connection entry: what the schema accepts and refuses, and what build refuses."""

from __future__ import annotations

from typing import Any

import aiohttp
import jsonschema
import pytest

from jivocrm.connectors.amocrm import SPEC, build
from jivocrm.connectors.spec import ConnectionContext
from jivocrm.core.errors import FatalError

VALID: list[dict[str, Any]] = [
    {"type": "amocrm", "subdomain": "myshop", "auth": {"long_lived_token": "${AMO}"}},
    {
        "type": "amocrm",
        "subdomain": "myshop",
        "domain": "kommo.com",
        "auth": {
            "oauth": {
                "client_id": "id",
                "client_secret": "${SECRET}",
                "redirect_uri": "https://example.com/cb",
                "refresh_token": "${REFRESH}",
            }
        },
        "rate_limit": {"rate": 5, "burst": 1},
        "timeout": 20,
        "retries": {"attempts": 5},
    },
    {"base_url": "http://127.0.0.1:8081", "auth": {"long_lived_token": "x"}},
    {"base_url": "http://localhost", "auth": {"long_lived_token": "x"}},
    {"base_url": "https://myshop.amocrm.ru", "auth": {"long_lived_token": "x"}},
    {"emulate": True, "seed": "seed.yaml", "auth": {"long_lived_token": "x"}},
]

INVALID: list[dict[str, Any]] = [
    {"subdomain": "myshop", "auth": {"long_lived_token": "x"}, "tokn": "typo"},
    {"base_url": "http://myshop.amocrm.ru", "auth": {"long_lived_token": "x"}},
    {"subdomain": "myshop", "auth": {}},
    {"subdomain": "myshop", "auth": {"long_lived_token": "x", "oauth": {}}},
    {"subdomain": "myshop", "auth": {"oauth": {"client_id": "id"}}},
    {"auth": {"long_lived_token": "x"}},
    {"subdomain": "myshop", "domain": "example.com", "auth": {"long_lived_token": "x"}},
]


@pytest.mark.parametrize("config", VALID)
def test_schema_accepts(config: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(SPEC.schema).validate(config)


@pytest.mark.parametrize("config", INVALID)
def test_schema_refuses(config: dict[str, Any]) -> None:
    assert not jsonschema.Draft202012Validator(SPEC.schema).is_valid(config)


def test_secrets_are_marked() -> None:
    auth = SPEC.schema["properties"]["auth"]["properties"]
    assert auth["long_lived_token"]["x-secret"] is True
    oauth = auth["oauth"]["properties"]
    assert {k for k, v in oauth.items() if v.get("x-secret")} == {
        "client_secret",
        "refresh_token",
        "authorization_code",
    }


def test_example_is_valid() -> None:
    jsonschema.Draft202012Validator(SPEC.schema).validate(SPEC.example)


async def test_build_refuses_plain_http_with_the_fix() -> None:
    async with aiohttp.ClientSession() as session:
        ctx = ConnectionContext(name="amo", session=session)
        with pytest.raises(FatalError, match=r"add https://, the correct form is https://"):
            build({"base_url": "http://myshop.amocrm.ru", "auth": {"long_lived_token": "t"}}, ctx)


async def test_urls_from_subdomain_and_domain() -> None:
    async with aiohttp.ClientSession() as session:
        ctx = ConnectionContext(name="amo", session=session)
        amo = build({"subdomain": "myshop", "auth": {"long_lived_token": "t"}}, ctx)
        kommo = build(
            {"subdomain": "myshop", "domain": "kommo.com", "auth": {"long_lived_token": "t"}}, ctx
        )
    assert amo.base_url == "https://myshop.amocrm.ru"
    assert amo.entity_url("contact", "7") == "https://myshop.amocrm.ru/contacts/detail/7"
    assert amo.entity_url("deal", "8") == "https://myshop.amocrm.ru/leads/detail/8"
    assert kommo.entity_url("deal", "8") == "https://myshop.kommo.com/leads/detail/8"
