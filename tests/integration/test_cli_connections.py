"""`jivocrm connections check|refresh` against emulators served by `jivocrm emulate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jivocrm import samples
from jivocrm.testing.net import free_port, wait_for

PROJECT = """\
version: 1
connections:
  amo:
    type: amocrm
    base_url: {amo}
    auth: {{long_lived_token: "${{AMO_TOKEN}}"}}
  b24:
    type: bitrix24
    webhook_url: "${{B24_WEBHOOK_URL}}"
"""

BUNDLE = """\
version: 1
trigger: {{event: chat_finished}}
steps:
  - id: deal
    type: new_deal
    connection: amo
    fields: {{name: Сделка, pipeline: Продажи, stage: {stage}}}
"""


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, str]]:
    procs, urls = [], {}
    for crm in ("amocrm", "bitrix24"):
        port = free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "jivocrm", "emulate", crm, "--port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls[crm] = f"http://127.0.0.1:{port}"
        wait_for(urls[crm] + "/_emulator/state")
    yield urls
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def jivocrm(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jivocrm", *args],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_project(tmp_path: Path, urls: dict[str, str], stage: str) -> Path:
    (tmp_path / "bundles").mkdir()
    (tmp_path / "jivocrm.yaml").write_text(PROJECT.format(amo=urls["amocrm"]), "utf-8")
    (tmp_path / "bundles" / "deal.yaml").write_text(BUNDLE.format(stage=stage), "utf-8")
    return tmp_path


def test_check_passes_with_good_credentials(tmp_path: Path, emulators: dict[str, str]) -> None:
    project = make_project(tmp_path, emulators, "Первичный контакт")
    env = {
        "AMO_TOKEN": "emulator-admin-token",
        "B24_WEBHOOK_URL": emulators["bitrix24"] + "/rest/1/emulatorcode1/",
    }
    result = jivocrm(project, "connections", "check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   amo: authenticated" in result.stdout
    assert "ok   b24: rights: scopes crm, user, task granted" in result.stdout


def test_check_explains_each_failure_and_exits_1(tmp_path: Path, emulators: dict[str, str]) -> None:
    project = make_project(tmp_path, emulators, "Первичный контакт")
    env = {"AMO_TOKEN": "emulator-manager-token"}  # not an administrator; B24 variable unset
    result = jivocrm(project, "connections", "check", env=env)
    assert result.returncode == 1
    assert "FAIL amo: rights:" in result.stdout
    assert "administrator" in result.stdout
    assert "FAIL b24: configuration: environment variable B24_WEBHOOK_URL not set" in result.stdout
    assert "emulator-manager-token" not in result.stdout + result.stderr


def test_refresh_writes_a_snapshot_that_validate_checks_names_against(
    tmp_path: Path, emulators: dict[str, str]
) -> None:
    project = make_project(tmp_path, emulators, "Первичный контак")  # a typo in the stage
    env = {
        "AMO_TOKEN": "emulator-admin-token",
        "B24_WEBHOOK_URL": emulators["bitrix24"] + "/rest/1/emulatorcode1/",
    }
    assert jivocrm(project, "validate", env={}).returncode == 0  # no snapshot: names unchecked
    refreshed = jivocrm(project, "connections", "refresh", env=env)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    text = (project / "metadata.lock.yaml").read_text("utf-8")
    assert '"Первичный контакт"' in text
    again = jivocrm(project, "connections", "refresh", env=env)
    assert again.returncode == 0
    assert (project / "metadata.lock.yaml").read_text("utf-8") == text  # stable order
    result = jivocrm(project, "validate", env={})
    assert result.returncode == 1
    assert "Первичный контак" in result.stdout
    assert "did you mean 'Первичный контакт'" in result.stdout


RUN_BUNDLE = """\
version: 1
trigger: {event: chat_accepted}
steps:
  - id: operator
    type: find_employee
    connection: amo
    login: "{{ event.operator.email }}"
  - id: deal
    type: new_deal
    connection: amo
    fields: {name: Сделка, pipeline: Продажи, stage: Первичный контакт}
"""


def test_the_snapshot_spares_the_crm_its_metadata_calls(
    tmp_path: Path, emulators: dict[str, str]
) -> None:
    project = make_project(tmp_path, emulators, "Первичный контакт")
    (project / "bundles" / "deal.yaml").write_text(RUN_BUNDLE, "utf-8")
    env = {
        "AMO_TOKEN": "emulator-admin-token",
        "B24_WEBHOOK_URL": emulators["bitrix24"] + "/rest/1/emulatorcode1/",
    }
    assert jivocrm(project, "connections", "refresh", "amo", env=env).returncode == 0
    state_url = emulators["amocrm"] + "/_emulator/state"
    before = len(json.loads(wait_for(state_url))["requests"])
    sample = tmp_path / "chat_accepted.json"
    sample.write_text(samples.text("chat_accepted"), "utf-8")
    result = jivocrm(project, "run", str(sample), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    paths = [r["path"] for r in json.loads(wait_for(state_url))["requests"][before:]]
    assert any(p.startswith("/api/v4/leads") for p in paths)  # the deal was written
    assert not [p for p in paths if p.startswith(("/api/v4/users", "/api/v4/leads/pipelines"))]
