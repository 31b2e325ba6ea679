"""amoCRM's entry into the connector contract suite (``jivocrm.testing.contract``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from jivocrm.connectors.amocrm.client import AmoCRMConnector
from jivocrm.connectors.amocrm.emulator import RunningEmulator, running_emulator
from jivocrm.connectors.amocrm.factory import build
from jivocrm.connectors.kit import ContractTarget
from jivocrm.connectors.spec import ConnectionContext

ADMIN_TOKEN = "emulator-admin-token"  # the emulator's seeded admin token
# The contract's collections, as the emulator's state names them.
COLLECTIONS = {"deals": "leads", "leads": ""}


class AmoCRMProbe:
    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator

    async def count(self, collection: str) -> int:
        name = COLLECTIONS.get(collection, collection)
        if not name:
            return 0
        items = self.emulator.state.snapshot()[name]
        return len(items)

    async def request_count(self) -> int:
        return len(self.emulator.state.requests)

    async def store_contact(self, name: str, phone: str) -> str:
        state = self.emulator.state
        contact = state.seed_contact({"id": state.new_id(), "name": name, "phones": [phone]})
        state.contacts[contact["id"]] = contact
        return str(contact["id"])


def connector_config(emulator: RunningEmulator, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "type": "amocrm",
        "base_url": emulator.url,
        "auth": {"long_lived_token": ADMIN_TOKEN},
    }
    return {**config, **extra}


@contextlib.asynccontextmanager
async def amocrm_target(
    session: aiohttp.ClientSession,
    seed: Path | None = None,
    capabilities: frozenset[str] = frozenset(),
) -> AsyncIterator[ContractTarget]:
    # Page size 2 makes the seed's three users span two pages. The account's 7 req/s limit is
    # off here: the limiter has its own tests, and the contract is about operations.
    async with running_emulator(seed, page_size=2, rate_limit=0) as emulator:
        fast = {"rate_limit": {"rate": 1000}}
        ctx = ConnectionContext(name="amo", session=session)
        bad = {"auth": {"long_lived_token": "wrong-token"}, "retries": {"attempts": 1}}
        yield ContractTarget(
            connector=build(connector_config(emulator, **fast), ctx),
            bad_credentials=build(connector_config(emulator, **fast, **bad), ctx),
            probe=AmoCRMProbe(emulator),
            user_login="o.petrova@shop-example.ru",
            page_size=2,
            capabilities=capabilities,
        )


def connect(
    emulator: RunningEmulator,
    session: aiohttp.ClientSession,
    *,
    state_dir: Path | None = None,
    token_store: Any = None,
    **extra: Any,
) -> AmoCRMConnector:
    """A connector to a running emulator (tests); ``extra`` overrides connection keys."""
    ctx = ConnectionContext(name="amo", session=session, token_store=token_store)
    if state_dir is not None:
        ctx.state_dir = state_dir
    return build(connector_config(emulator, **extra), ctx)
