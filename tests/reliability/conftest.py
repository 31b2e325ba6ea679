"""Reliability fixtures: the amoCRM emulator as its own process and the soak project's daemon."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from soak_kit import EmulatorProcess, write_project

from jivocrm.testing.daemon import Daemon
from jivocrm.testing.net import free_port

TOKEN = "reliability-channel-token-0001"
AMO_TOKEN = "emulator-admin-token"  # the emulator's default seed accepts it


# The checker's figures of this session, repeated in pytest's terminal summary: `make soak` runs
# pytest with -q (output captured), and the figures are what the soak is for.
FIGURES: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    def add(line: str) -> None:
        FIGURES.append(line)
        print(line)

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(tmp_path / "emulator.log")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def soak_daemon(tmp_path: Path, crm: EmulatorProcess) -> Iterator[Daemon]:
    """The daemon on the soak project (not started: tests call start)."""
    root = write_project(tmp_path / "project", crm.url)
    env = {"JIVO_SHOP_TOKEN": TOKEN, "AMO_TOKEN": AMO_TOKEN}
    server = Daemon(root, free_port(), token=TOKEN, env=env)
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.kill()
