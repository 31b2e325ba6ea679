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


def test_emulate_says_where_it_listens_in_russian() -> None:
    import os

    port = free_port()
    env = {**os.environ, "LANG": "ru_RU.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jivocrm", "emulate", "bitrix24", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/_emulator/state")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    url = f"http://127.0.0.1:{port}"
    assert f"Эмулятор Bitrix24 на {url} (состояние: GET {url}/_emulator/state)" in out
    assert "Подключите его в проекте (jivocrm.yaml):\nconnections:\n  b24:" in out
    assert f"# B24_WEBHOOK_URL={url}/rest/1/emulatorcode1/" in out
