"""Bitrix24 passes the shared connector contract over real HTTP against its emulator on port 0.

Kept apart from ``test_connector_contract.py`` so the two connectors' authors never edit one file;
the suite is the same ``ConnectorContract``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jivocrm.connectors.bitrix24.contract_target import bitrix24_target
from jivocrm.testing.contract import ConnectorContract, ContractTarget, make_target


@pytest.fixture
async def contract_target() -> AsyncIterator[ContractTarget]:
    async for target in make_target(bitrix24_target):
        yield target


class TestBitrix24Contract(ConnectorContract):
    pass
