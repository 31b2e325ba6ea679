"""Acceptance fixtures: the amoCRM emulator on port 0 and the daemon's test project."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_daemon_kit import BUNDLES, PROJECT, WIDGET, Daemon, free_port

from jivocrm.connectors.amocrm.emulator import RunningEmulator, running_emulator
from jivocrm.engine.bundle_tests import crm_state


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[RunningEmulator]:
    """amoCRM with the demo account's users and pipelines, no contacts or deals, no rate limit."""
    seed = crm_state.write_seed("amocrm", {"contacts": []}, tmp_path, "amo")
    async with running_emulator(seed, rate_limit=0) as emu:
        yield emu


@pytest.fixture
async def daemon(tmp_path: Path, emulator: RunningEmulator) -> AsyncIterator[Daemon]:
    """The daemon on a test project pointing at the emulator (not started: tests call start)."""
    root = tmp_path / "project"
    (root / "bundles").mkdir(parents=True)
    project = PROJECT.format(widget=WIDGET, crm_url=emulator.url)
    (root / "jivocrm.yaml").write_text(project, "utf-8")
    for name, text in BUNDLES.items():
        (root / "bundles" / f"{name}.yaml").write_text(text, "utf-8")
    server = Daemon(root, free_port())
    yield server
    if server.proc is not None and server.proc.poll() is None:
        await server.stop()
