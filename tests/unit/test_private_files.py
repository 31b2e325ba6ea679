"""Files that hold visitor data or tracebacks are readable by their owner only: the SQLite store
(and the -wal/-shm files SQLite makes beside it) and crash reports."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jivocrm.cli.common import write_crash_report
from jivocrm.store.sqlite import SQLiteStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_store_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: new files world-readable unless said otherwise
    try:
        store = SQLiteStore(tmp_path / "state" / "jivocrm.db")
        await store.open()
        await store.ping()  # a write: the -wal file exists now
        modes = {p.name: mode(p) for p in (tmp_path / "state").iterdir()}
        await store.close()
    finally:
        os.umask(old)
    assert modes == {"jivocrm.db": 0o600, "jivocrm.db-wal": 0o600, "jivocrm.db-shm": 0o600}
    assert mode(tmp_path / "state") == 0o700


async def test_an_existing_store_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "jivocrm.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    assert mode(path) == 0o600


def test_a_crash_report_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = write_crash_report(RuntimeError("boom"))
    assert (mode(report), "RuntimeError: boom" in report.read_text("utf-8")) == (0o600, True)
