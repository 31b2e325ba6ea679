"""RetailCRM's entry into the connector contract suite (``jivocrm.testing.contract``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from jivocrm.connectors.kit import ContractTarget
from jivocrm.connectors.retailcrm.client import RetailCRMConnector
from jivocrm.connectors.retailcrm.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.retailcrm.factory import EMULATOR_KEY, build
from jivocrm.connectors.spec import ConnectionContext

# The contract's collections, as the emulator's state names them.
COLLECTIONS = {"contacts": "customers", "deals": "orders", "leads": "", "unsorted": ""}


class RetailCRMProbe:
    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator

    async def count(self, collection: str) -> int:
        name = COLLECTIONS.get(collection, collection)
        return len(self.emulator.state.snapshot()[name]) if name else 0

    async def request_count(self) -> int:
        return len(self.emulator.state.requests)

    async def store_contact(self, name: str, phone: str) -> str:
        customer = self.emulator.state.create_customer(
            {"firstName": name, "phones": [{"number": phone}]}, "shop"
        )
        return str(customer["id"])


def connector_config(emulator: RunningEmulator, **extra: Any) -> dict[str, Any]:
    config = {"type": "retailcrm", "url": emulator.url, "api_key": EMULATOR_KEY, "site": "shop"}
    return {**config, **extra}


@contextlib.asynccontextmanager
async def retailcrm_target(
    session: aiohttp.ClientSession,
    seed: Path | None = None,
    capabilities: frozenset[str] = frozenset(),
) -> AsyncIterator[ContractTarget]:
    # Page size 2 makes the seed's three users span two pages; the key's 10 requests/s are off
    # here (the limiter has its own tests, the contract is about operations).
    async with running_emulator(seed, page_size=2, rate_limit=0) as emulator:
        fast = {"rate_limit": {"rate": 1000}}
        ctx = ConnectionContext(name="retail", session=session)
        bad = {"api_key": "wrong-key", "retries": {"attempts": 1}}
        yield ContractTarget(
            connector=build(connector_config(emulator, **fast), ctx),
            bad_credentials=build(connector_config(emulator, **fast, **bad), ctx),
            probe=RetailCRMProbe(emulator),
            user_login="o.petrova@shop-example.ru",
            page_size=2,
            capabilities=capabilities,
        )


def connect(
    emulator: RunningEmulator, session: aiohttp.ClientSession, **extra: Any
) -> RetailCRMConnector:
    """A connector to a running emulator (tests); ``extra`` overrides connection keys."""
    ctx = ConnectionContext(name="retail", session=session)
    return build(connector_config(emulator, **extra), ctx)
