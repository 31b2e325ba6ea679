"""Bitrix24's entry into the connector contract suite (``jivocrm.testing.contract``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from jivocrm.connectors.bitrix24.client import Bitrix24Connector
from jivocrm.connectors.bitrix24.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.bitrix24.factory import build
from jivocrm.connectors.kit import ContractTarget
from jivocrm.connectors.spec import ConnectionContext

CONTRACT_SEED = Path(__file__).with_name("contract_seed.yaml")
WEBHOOK_USER, WEBHOOK_CODE = "1", "emulatorcode1"  # the default seed's webhook
# The contract's collections, as the emulator's state snapshot names them.
COLLECTIONS = {"notes": "comments", "unsorted": "", "companies": ""}


class Bitrix24Probe:
    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator

    async def count(self, collection: str) -> int:
        name = COLLECTIONS.get(collection, collection)
        return len(self.emulator.state.snapshot()[name]) if name else 0

    async def request_count(self) -> int:
        return len(self.emulator.state.requests)

    async def store_contact(self, name: str, phone: str) -> str:
        record = {"NAME": name, "ASSIGNED_BY_ID": 1, "PHONE": [{"VALUE": phone}]}
        return str(self.emulator.state.store("contact", record))


def webhook_config(
    emulator: RunningEmulator, code: str = WEBHOOK_CODE, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "bitrix24",
        "webhook_url": f"{emulator.url}/rest/{WEBHOOK_USER}/{code}/",
        **extra,
    }


def connect(
    emulator: RunningEmulator,
    session: aiohttp.ClientSession,
    config: dict[str, Any] | None = None,
    **ctx: Any,
) -> Bitrix24Connector:
    """A connector to a running emulator (tests); ``config`` defaults to its webhook."""
    return build(
        config or webhook_config(emulator),
        ConnectionContext(name=ctx.pop("name", "b24"), session=session, **ctx),
    )


@contextlib.asynccontextmanager
async def bitrix24_target(
    session: aiohttp.ClientSession,
    seed: Path | None = CONTRACT_SEED,
    capabilities: frozenset[str] = frozenset(),
) -> AsyncIterator[ContractTarget]:
    # Page size 2 makes the seed's three users span two pages. The portal's bucket is off here:
    # the limiter has its own tests, and the contract is about operations.
    async with running_emulator(seed, page_size=2, faults={"rate_limit": {"rate": 0}}) as emulator:
        fast: dict[str, Any] = {"rate_limit": {"rate": 1000, "burst": 1000}}
        bad = webhook_config(emulator, code="wrongcode", retries={"attempts": 1}, **fast)
        yield ContractTarget(
            connector=connect(emulator, session, webhook_config(emulator, **fast)),
            bad_credentials=connect(emulator, session, bad),
            probe=Bitrix24Probe(emulator),
            user_login="o.petrova@shop-example.ru",
            page_size=2,
            capabilities=capabilities,
        )
