"""amoCRM (Kommo) API v4: the connection schema, the connector and its emulator.

Only the schema is imported with the package (``jivocrm validate`` needs nothing else); the
connector and the emulator load on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jivocrm.connectors.amocrm.schema import EXAMPLE, SCHEMA, check_config
from jivocrm.connectors.kit import CrmKit
from jivocrm.connectors.spec import (
    BASIC,
    DEAL_TAGS,
    DEAL_WITH_CONTACT,
    NOTE_LISTING,
    UNSORTED,
    ConnectionContext,
    ConnectorSpec,
    EmulatorConnection,
    Scaffold,
    emulator_entry,
    per_second_shared,
)

if TYPE_CHECKING:
    from aiohttp import web

    from jivocrm.connectors.amocrm.client import AmoCRMConnector


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> AmoCRMConnector:
    from jivocrm.connectors.amocrm.factory import build as make

    return make(config, ctx)


def emulator_app(seed: Path | None) -> web.Application:
    from jivocrm.connectors.amocrm.emulator import create_app

    return create_app(seed)


# The token the emulator's default account accepts (``jivocrm emulate`` prints it too).
EMULATOR_TOKEN = "emulator-admin-token"


def emulator_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**emulator_entry(config), "auth": {"long_lived_token": EMULATOR_TOKEN}}


def emulator_connection(url: str) -> EmulatorConnection:
    return EmulatorConnection(
        {"type": "amocrm", "base_url": url, "auth": {"long_lived_token": "${AMO_TOKEN}"}},
        {"AMO_TOKEN": EMULATOR_TOKEN},
    )


def kit() -> CrmKit:
    from jivocrm.connectors.amocrm import bundle_kit
    from jivocrm.connectors.amocrm.contract_target import amocrm_target

    target = functools.partial(amocrm_target, capabilities=SPEC.capabilities)
    return CrmKit(bundle_kit.seed, bundle_kit.quiet, bundle_kit.entities, target)


SPEC = ConnectorSpec(
    type="amocrm",
    title="amoCRM / Kommo",
    description="amoCRM (Kommo) REST API v4: contacts, leads (deals), tasks, notes, unsorted.",
    schema=SCHEMA,
    example=EXAMPLE,
    build=build,
    emulator=emulator_app,
    scaffold=Scaffold(
        connection="amo",
        variables=(
            ("AMO_TOKEN", "amoCRM → Settings → Integrations → your private integration → Keys"),
        ),
        no_contacts="an unsorted request («Неразобранное»)",
        package=__name__,
        timezone="Europe/Moscow",
    ),
    kit=kit,
    emulator_connection=emulator_connection,
    capabilities=BASIC | {UNSORTED, DEAL_TAGS, NOTE_LISTING, DEAL_WITH_CONTACT},
    default_rate=(7.0, 1),
    check_config=check_config,
    emulator_config=emulator_config,
    shared_limit=per_second_shared,
    docs={"api": "https://www.amocrm.ru/developers/content/crm_platform/api-reference"},
)

__all__ = ["EMULATOR_TOKEN", "SPEC", "build", "emulator_app"]
