"""RetailCRM API v5: customers and orders, notes and tasks, an API key, 10 requests/s.

Only the schema is imported with the package (``jivocrm validate`` needs nothing else); the
connector and the emulator load on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jivocrm.connectors.retailcrm.schema import DEFAULT_RATE, EXAMPLE, SCHEMA
from jivocrm.connectors.spec import ConnectionContext, ConnectorSpec

if TYPE_CHECKING:
    from aiohttp import web

    from jivocrm.connectors.retailcrm.client import RetailCRMConnector


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> RetailCRMConnector:
    from jivocrm.connectors.retailcrm.factory import build as make

    return make(config, ctx)


def emulator_app(seed: Path | None) -> web.Application:
    from jivocrm.connectors.retailcrm.emulator import create_app

    return create_app(seed)


SPEC = ConnectorSpec(
    type="retailcrm",
    title="RetailCRM",
    description="RetailCRM API v5: customers (contacts), orders (deals), notes and tasks.",
    schema=SCHEMA,
    example=EXAMPLE,
    build=build,
    emulator=emulator_app,
    default_rate=DEFAULT_RATE,
    emulator_snippet=(
        "connections:\n"
        "  retail:\n"
        "    type: retailcrm\n"
        "    url: {url}\n"
        "    api_key: ${{RETAILCRM_API_KEY}}   # RETAILCRM_API_KEY=emulator-api-key\n"
        "    site: shop\n"
    ),
    docs={"api": "https://docs.retailcrm.ru/Developers/API/APIVersions/APIv5"},
)

__all__ = ["SPEC", "build", "emulator_app"]
