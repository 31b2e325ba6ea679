"""The store contract suite on both backends: SQLite (a file per test) and PostgreSQL (a scratch
schema per test on the server named by JIVOCRM_TEST_PG_DSN; skipped when it is unset)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jivocrm.store import open_store
from jivocrm.store.base import Store
from jivocrm.testing.store_contract import StoreContract, pg_dsn, scratch_schema
from jivocrm.testing.store_contract_operations import OperationsContract


class TestStoreContract(StoreContract, OperationsContract):
    @pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
    async def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
        if request.param == "sqlite":
            store = open_store("sqlite:///jivocrm.db", tmp_path)
            await store.open()
            yield store
            await store.close()
            return
        async with scratch_schema(pg_dsn()) as url:
            store = open_store(url, tmp_path)
            await store.open()
            try:
                yield store
            finally:
                await store.close()
