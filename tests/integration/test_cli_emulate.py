"""`jivocrm emulate` serves a CRM emulator that a user can point a connection at."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jivocrm.testing.net import free_port, wait_for


@pytest.mark.parametrize(
    ("crm", "probe"),
    [
        ("amocrm", "/_emulator/state"),
        ("bitrix24", "/_emulator/state"),
    ],
)
def test_emulate_serves_the_emulator_until_stopped(crm: str, probe: str) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jivocrm", "emulate", crm, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        state = json.loads(wait_for(f"http://127.0.0.1:{port}{probe}"))
        assert isinstance(state, dict)
        assert state  # the demo seed holds an account
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}" in out
    assert "connections:" in out
