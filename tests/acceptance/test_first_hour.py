"""A new user's first hour, as the README tells it: ``make run`` and its pasted ``send`` line, then
``jivocrm init`` with the secrets in ``.env`` only, and ``validate``, ``test``, ``connections
check`` and ``serve`` on that project. Every command runs as a real process.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from jivocrm.scaffold import crm_types
from jivocrm.testing.daemon import Daemon, jivocrm
from jivocrm.testing.net import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECRETS = (
    "JIVO_SHOP_TOKEN",
    "AMO_TOKEN",
    "B24_WEBHOOK_URL",
    "RETAILCRM_API_KEY",
    "JIVOCRM_ADMIN_TOKEN",
)
CRM_SETS = [[c] for c in crm_types()] + [crm_types()]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.timeout(180)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any of the projects' secrets."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return {**env, **extra}


def run(*args: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*jivocrm(), *args], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=120
    )


class Terminal:
    """A process whose stdout and stderr are a terminal (a pty), read line by line."""

    def __init__(self, args: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, cwd=cwd, env=dict(env), stdout=slave, stderr=slave)
        os.close(slave)
        self.text = ""

    def read_until(self, pattern: str, seconds: float = 90.0) -> re.Match[str]:
        end = time.monotonic() + seconds
        while (found := re.search(pattern, self.text, re.M)) is None:
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"no {pattern!r} in the output:\n{self.text[-3000:]}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process closed the terminal
                    chunk = b""
                self.text += ANSI.sub("", chunk.decode("utf-8", "replace").replace("\r", ""))
        return found

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        return code


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for one in opened:
        one.stop()


def test_make_run_prints_the_banner_then_logs_and_its_send_line_creates_a_contact(
    tmp_path: Path, terminal: list[Terminal]
) -> None:
    # `make run` is `python -m jivocrm.cli.first_run` on bundles/; a copy keeps its store here.
    example = tmp_path / "bundles"
    shutil.copytree(ROOT / "bundles", example, ignore=shutil.ignore_patterns(".jivocrm", ".env"))
    args = [sys.executable, "-m", "jivocrm.cli.first_run", str(example)]
    term = Terminal(args, cwd=ROOT, env=clean_env())
    terminal.append(term)
    line = term.read_until(r"^\s+(\.venv/bin/jivocrm send --sample chat_accepted --url \S+)$")
    term.read_until("server_started")  # the start-up log lines, held back until now
    banner_at = term.text.index("jivocrm 0.1.0 serving")
    assert "emulator_started" not in term.text[:banner_at]
    assert "emulator_started" in term.text[banner_at:]
    assert "dev-shop-token" in term.text
    b24 = term.read_until(r"connection b24: Bitrix24, built-in emulator at (\S+)").group(1)

    # The line as printed, pasted in the repository folder (where `make run` put .venv).
    pasted = shlex.split(line.group(1))
    if not (ROOT / pasted[0]).exists():  # a checkout tested with another virtualenv
        pasted = [*jivocrm(), *pasted[1:]]
    sent = subprocess.run(pasted, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    reply = json.loads(sent.stdout)
    assert reply["result"] == "ok"
    assert reply["crm_link"].startswith("http")

    state = json.loads(wait_for(b24 + "/_emulator/state"))
    names = [c["NAME"] + " " + c.get("LAST_NAME", "") for c in state["contacts"]]
    assert any("Смирнова" in name for name in names), names
    assert term.stop() == 0


def default_tests(crms: list[str]) -> int:
    """How many tests the default bundles' test files of ``crms`` hold."""
    from ruamel.yaml import YAML

    from jivocrm import scaffold

    files = scaffold.project_files(crms, emulate=True)
    return sum(
        len(YAML(typ="safe").load(text)["tests"])
        for name, text in files.items()
        if name.endswith(scaffold.TEST_SUFFIX)
    )


@pytest.mark.parametrize("crms", CRM_SETS, ids=["+".join(c) for c in CRM_SETS])
def test_an_init_project_with_its_secrets_in_env_only_validates_tests_checks_and_serves(
    tmp_path: Path, crms: list[str]
) -> None:
    project = tmp_path / "p"
    options = [a for crm in crms for a in ("--crm", crm)]
    made = run("init", str(project), *options, "--emulate", cwd=tmp_path, env=clean_env())
    assert made.returncode == 0, made.stderr
    token = "token-from-the-env-file-0001"
    (project / ".env").write_text(
        f"JIVO_SHOP_TOKEN={token}\nAMO_TOKEN=emulator-admin-token\n"
        "B24_WEBHOOK_URL=https://myshop.bitrix24.ru/rest/1/abc123def456/\n"
        "RETAILCRM_API_KEY=emulator-api-key\n",
        "utf-8",
    )
    env = clean_env()
    assert run("validate", cwd=project, env=env).returncode == 0
    tested = run("test", cwd=project, env=env)
    assert tested.returncode == 0, tested.stdout
    assert tested.stdout.splitlines()[-1] == f"{default_tests(crms)} passed, 0 failed"
    checked = run("connections", "check", cwd=project, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    port = free_port()
    (project / "jivocrm.yaml").write_text(
        (project / "jivocrm.yaml").read_text("utf-8").replace("port: 8080", f"port: {port}"),
        "utf-8",
    )
    daemon = Daemon(project, port, token=token)
    daemon.env = env  # exactly this environment: no secret of the test run's own
    daemon.start_blocking()
    try:
        # `send` finds the URL from the project; the token comes from the same .env.
        sent = run(
            "send", "--sample", "chat_accepted", "--project", str(project), cwd=tmp_path, env=env
        )
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["crm_link"].startswith("http")
        first = daemon.logs().splitlines()[0]
        assert json.loads(first)["event"]  # not a terminal: JSON logs only, no banner
        assert token not in daemon.logs()
    finally:
        assert daemon.stop_blocking() == 0


def test_the_environment_wins_over_env_and_a_missing_env_is_fine(tmp_path: Path) -> None:
    project = tmp_path / "p"
    assert (
        run("init", str(project), "--crm", "amocrm", cwd=tmp_path, env=clean_env()).returncode == 0
    )
    shown = run("channels", "--show-token", "--format", "json", cwd=project, env=clean_env())
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["channels"][0]["webhook_url"].endswith("${JIVO_SHOP_TOKEN}")

    (project / ".env").write_text("JIVO_SHOP_TOKEN=from-the-file\n", "utf-8")
    from_file = run("channels", "--show-token", "--format", "json", cwd=project, env=clean_env())
    assert json.loads(from_file.stdout)["channels"][0]["webhook_url"].endswith("/from-the-file")
    masked = run("channels", cwd=project, env=clean_env())
    assert "from-the-file" not in masked.stdout + masked.stderr

    env = clean_env(JIVO_SHOP_TOKEN="from-the-environment")
    wins = run("channels", "--show-token", "--format", "json", cwd=project, env=env)
    assert json.loads(wins.stdout)["channels"][0]["webhook_url"].endswith("/from-the-environment")


def test_send_outside_a_project_says_how_to_point_it_at_one(tmp_path: Path) -> None:
    sent = run("send", "--sample", "chat_accepted", cwd=tmp_path, env=clean_env())
    assert sent.returncode == 1
    assert "--project DIR" in sent.stderr
    assert "--url" in sent.stderr
