"""`jivocrm run` and `jivocrm test` in Russian on a project `init --lang ru` wrote (emulated CRMs),
real processes: the report reads in Russian, the JSON report keeps English reasons."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from jivocrm.testing.daemon import jivocrm


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "JIVOCRM_"))}
    return subprocess.run(
        [*jivocrm(), *args],
        cwd=root,
        env={**clean, "LANG": "en_US.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ru") / "shop"
    made = cli(root.parent, "init", str(root), "--crm", "amocrm", "--emulate", "--lang", "ru")
    assert made.returncode == 0, made.stderr
    assert "создан проект jivocrm" in made.stdout
    return root


def test_run_explains_each_bundle_in_russian(project: Path) -> None:
    done = cli(project, "run", "samples/chat_finished.json")
    assert done.returncode == 0, done.stderr
    assert "связка call-event: не подошла — событие — chat_finished" in done.stdout
    assert "связка chat-finished-with-contacts: подошла" in done.stdout
    assert "ответ Jivo:" in done.stdout


def test_run_json_keeps_the_english_reasons(project: Path) -> None:
    ru = json.loads(cli(project, "run", "samples/chat_finished.json", "--format", "json").stdout)
    reasons = {b["bundle"]: b["reason"] for b in ru["bundles"]}
    assert reasons["call-event"] == "event is chat_finished; the bundle runs on call_event"


def test_bundle_tests_report_in_russian(project: Path) -> None:
    done = cli(project, "test")
    assert done.returncode == 0, done.stdout
    assert re.search(r"^пройдено: \d+, не пройдено: 0$", done.stdout, re.M), done.stdout
    english = cli(project, "test", "--lang", "en")
    assert re.search(r"^\d+ passed, 0 failed$", english.stdout, re.M)
