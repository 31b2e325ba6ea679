"""RetailCRM API v5: customers and orders, notes and tasks, an API key, 10 requests/s.

Only the schema is imported with the package (``jivocrm validate`` needs nothing else); the
connector and the emulator load on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jivocrm.connectors.kit import CrmKit
from jivocrm.connectors.retailcrm.schema import DEFAULT_RATE, EXAMPLE, SCHEMA, check_config
from jivocrm.connectors.spec import (
    BASIC,
    NOTE_LISTING,
    ConnectionContext,
    ConnectorSpec,
    EmulatorConnection,
    Scaffold,
    emulator_entry,
    per_second_shared,
)

if TYPE_CHECKING:
    from aiohttp import web

    from jivocrm.connectors.retailcrm.client import RetailCRMConnector


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> RetailCRMConnector:
    from jivocrm.connectors.retailcrm.factory import build as make

    return make(config, ctx)


def emulator_app(seed: Path | None) -> web.Application:
    from jivocrm.connectors.retailcrm.emulator import create_app

    return create_app(seed)


def emulator_connection(url: str) -> EmulatorConnection:
    return EmulatorConnection(
        {"type": "retailcrm", "url": url, "api_key": "${RETAILCRM_API_KEY}", "site": "shop"},
        {"RETAILCRM_API_KEY": "emulator-api-key"},
    )


def emulator_config(config: Mapping[str, Any]) -> dict[str, Any]:
    # The store and the order method are names of the account, which the emulator's has too.
    kept = {k: config[k] for k in ("site", "order_method") if k in config}
    return {**emulator_entry(config), **kept}


def kit() -> CrmKit:
    from jivocrm.connectors.retailcrm import bundle_kit
    from jivocrm.connectors.retailcrm.contract_target import retailcrm_target

    target = functools.partial(retailcrm_target, capabilities=SPEC.capabilities)
    return CrmKit(bundle_kit.seed, bundle_kit.quiet, bundle_kit.entities, target)


SPEC = ConnectorSpec(
    type="retailcrm",
    title="RetailCRM",
    description="RetailCRM API v5: customers (contacts), orders (deals), notes and tasks.",
    schema=SCHEMA,
    example=EXAMPLE,
    build=build,
    emulator=emulator_app,
    scaffold=Scaffold(
        connection="retail",
        variables=(
            (
                "RETAILCRM_API_KEY",
                "RetailCRM → Settings → Integration → API access keys (customers, orders, tasks,"
                " users, reference data)",
            ),
        ),
        no_contacts="an order with the transcript as its customer's note",
        package=__name__,
        timezone="Europe/Moscow",
    ),
    kit=kit,
    emulator_connection=emulator_connection,
    capabilities=BASIC | {NOTE_LISTING},
    default_rate=DEFAULT_RATE,
    check_config=check_config,
    emulator_config=emulator_config,
    shared_limit=per_second_shared,
    docs={"api": "https://docs.retailcrm.ru/Developers/API/APIVersions/APIv5"},
)

__all__ = ["SPEC", "build", "emulator_app"]
