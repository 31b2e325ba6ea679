"""Every registered connector passes the shared contract over real HTTP against its emulator on
port 0: a CRM plugged into ``jivocrm.connectors.CONNECTORS`` is tested here without a line of
this file changing (its kit names its contract target; see ``jivocrm.testing.contract``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jivocrm.connectors import CONNECTORS
from jivocrm.testing.contract import ConnectorContract, ContractTarget, make_target


@pytest.fixture(params=sorted(CONNECTORS))
async def contract_target(request: pytest.FixtureRequest) -> AsyncIterator[ContractTarget]:
    async for target in make_target(CONNECTORS[request.param].kit().contract_target):
        yield target


class TestConnectorContract(ConnectorContract):
    pass
