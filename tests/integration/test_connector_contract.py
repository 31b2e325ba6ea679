"""Every connector passes the shared contract over real HTTP against its emulator on port 0.

To add a connector: one line in ``TARGETS`` (see ``jivocrm.testing.contract``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jivocrm.connectors.amocrm.contract_target import amocrm_target
from jivocrm.connectors.retailcrm.contract_target import retailcrm_target
from jivocrm.testing.contract import ConnectorContract, ContractTarget, TargetFactory, make_target

TARGETS: dict[str, TargetFactory] = {
    "amocrm": amocrm_target,
    "retailcrm": retailcrm_target,
}


@pytest.fixture(params=sorted(TARGETS))
async def contract_target(request: pytest.FixtureRequest) -> AsyncIterator[ContractTarget]:
    async for target in make_target(TARGETS[request.param]):
        yield target


class TestConnectorContract(ConnectorContract):
    pass
