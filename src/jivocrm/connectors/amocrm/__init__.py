"""amoCRM (Kommo) API v4: the connection schema, the connector and its emulator.

Only the schema is imported with the package (``jivocrm validate`` needs nothing else); the
connector and the emulator load on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jivocrm.connectors.amocrm.schema import EXAMPLE, SCHEMA
from jivocrm.connectors.spec import ConnectionContext, ConnectorSpec

if TYPE_CHECKING:
    from aiohttp import web

    from jivocrm.connectors.amocrm.client import AmoCRMConnector


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> AmoCRMConnector:
    from jivocrm.connectors.amocrm.factory import build as make

    return make(config, ctx)


def emulator_app(seed: Path | None) -> web.Application:
    from jivocrm.connectors.amocrm.emulator import create_app

    return create_app(seed)


SPEC = ConnectorSpec(
    type="amocrm",
    title="amoCRM / Kommo",
    description="amoCRM (Kommo) REST API v4: contacts, leads (deals), tasks, notes, unsorted.",
    schema=SCHEMA,
    example=EXAMPLE,
    build=build,
    emulator=emulator_app,
    default_rate=(7.0, 1),
    emulator_snippet=(
        "connections:\n"
        "  amo:\n"
        "    type: amocrm\n"
        "    base_url: {url}\n"
        "    auth:\n"
        "      long_lived_token: ${{AMO_TOKEN}}   # AMO_TOKEN=emulator-admin-token\n"
    ),
    docs={"api": "https://www.amocrm.ru/developers/content/crm_platform/api-reference"},
)

__all__ = ["SPEC", "build", "emulator_app"]
