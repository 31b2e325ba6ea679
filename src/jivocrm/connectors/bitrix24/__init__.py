"""Bitrix24: incoming webhooks or an OAuth application, REST over JSON, a leaky-bucket limit.

Only the schema is imported with the package (``jivocrm validate`` needs nothing else); the
connector and the emulator load on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jivocrm.connectors.bitrix24.schema import (
    DEFAULT_RATE,
    EXAMPLE,
    SCHEMA,
    check_config,
    check_webhook_url,
)
from jivocrm.connectors.kit import CrmKit
from jivocrm.connectors.spec import (
    BASIC,
    CHAINED_WRITES,
    DEAL_WITH_CONTACT,
    LEADS,
    NOTE_LISTING,
    ConnectionContext,
    ConnectorSpec,
    EmulatorConnection,
    Scaffold,
)

if TYPE_CHECKING:
    from aiohttp import web

    from jivocrm.connectors.bitrix24.client import Bitrix24Connector


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> Bitrix24Connector:
    from jivocrm.connectors.bitrix24.factory import build as make

    return make(config, ctx)


def emulator_app(seed: Path | None) -> web.Application:
    from jivocrm.connectors.bitrix24.emulator import create_app

    return create_app(seed)


def emulator_connection(url: str) -> EmulatorConnection:
    return EmulatorConnection(
        {"type": "bitrix24", "webhook_url": "${B24_WEBHOOK_URL}"},
        {"B24_WEBHOOK_URL": f"{url}/rest/1/emulatorcode1/"},
    )


def kit() -> CrmKit:
    from jivocrm.connectors.bitrix24 import bundle_kit
    from jivocrm.connectors.bitrix24.contract_target import bitrix24_target

    target = functools.partial(bitrix24_target, capabilities=SPEC.capabilities)
    return CrmKit(bundle_kit.seed, bundle_kit.quiet, bundle_kit.entities, target)


def call_name(method: str, url: str) -> str:
    """``POST crm.contact.add``: a REST call is named by its method, the URL's last part."""
    path = urlsplit(url).path.rstrip("/")
    return f"{method} {path.rsplit('/', 1)[-1].removesuffix('.json')}"


SPEC = ConnectorSpec(
    type="bitrix24",
    title="Bitrix24",
    description="Bitrix24 CRM through an incoming webhook or an OAuth application.",
    schema=SCHEMA,
    example=EXAMPLE,
    build=build,
    emulator=emulator_app,
    scaffold=Scaffold(
        connection="b24",
        variables=(
            (
                "B24_WEBHOOK_URL",
                "Bitrix24 → Developer resources → Other → Incoming webhook (scopes crm, user, "
                "task), e.g. https://myshop.bitrix24.ru/rest/1/<code>/",
            ),
        ),
        no_contacts="a lead with the transcript",
        package=__name__,
        timezone="Europe/Moscow",
    ),
    kit=kit,
    emulator_connection=emulator_connection,
    capabilities=BASIC | {LEADS, NOTE_LISTING, DEAL_WITH_CONTACT, CHAINED_WRITES},
    default_rate=DEFAULT_RATE,
    check_config=check_config,
    call_name=call_name,
    docs={
        "webhook": "Developer resources → Other → Incoming webhook; scopes crm, user, task.",
        "rate_limit": "Leaky bucket per portal: 2 requests/s drained, burst 50 (Enterprise 5/250).",
    },
)

__all__ = ["SPEC", "build", "check_webhook_url", "emulator_app"]
