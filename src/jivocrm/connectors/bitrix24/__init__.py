"""Bitrix24: incoming webhooks or an OAuth application, REST over JSON, a leaky-bucket limit.

Only the schema is imported with the package (``jivocrm validate`` needs nothing else); the
connector and the emulator load on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jivocrm.connectors.bitrix24.schema import EXAMPLE, SCHEMA, check_webhook_url
from jivocrm.connectors.spec import ConnectionContext, ConnectorSpec

if TYPE_CHECKING:
    from aiohttp import web

    from jivocrm.connectors.bitrix24.client import Bitrix24Connector

DEFAULT_RATE = (2.0, 50)


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> Bitrix24Connector:
    from jivocrm.connectors.bitrix24.factory import build as make

    return make(config, ctx)


def emulator_app(seed: Path | None) -> web.Application:
    from jivocrm.connectors.bitrix24.emulator import create_app

    return create_app(seed)


SPEC = ConnectorSpec(
    type="bitrix24",
    title="Bitrix24",
    description="Bitrix24 CRM through an incoming webhook or an OAuth application.",
    schema=SCHEMA,
    example=EXAMPLE,
    build=build,
    emulator=emulator_app,
    default_rate=DEFAULT_RATE,
    emulator_snippet=(
        "connections:\n"
        "  b24:\n"
        "    type: bitrix24\n"
        "    webhook_url: ${{B24_WEBHOOK_URL}}   # B24_WEBHOOK_URL={url}/rest/1/emulatorcode1/\n"
    ),
    docs={
        "webhook": "Developer resources → Other → Incoming webhook; scopes crm, user, task.",
        "rate_limit": "Leaky bucket per portal: 2 requests/s drained, burst 50 (Enterprise 5/250).",
    },
)

__all__ = ["SPEC", "build", "check_webhook_url", "emulator_app"]
