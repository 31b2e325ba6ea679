"""Secrets never leave: the channel token, the amoCRM long-lived token and the Bitrix24 webhook
code appear in no log line, no journal row, no CLI output and no error message — through normal
traffic, rejected requests and injected auth failures. The check greps every captured output,
the daemon's log file and the SQLite files' bytes for the sentinel values.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ruamel.yaml import YAML
from soak_kit import BUNDLE, WIDGET, event_body

import jivocrm.connectors.amocrm as amocrm_package
import jivocrm.connectors.bitrix24 as bitrix24_package
from jivocrm.connectors.amocrm.emulator import running_emulator as amo_emulator
from jivocrm.connectors.bitrix24.emulator import running_emulator as b24_emulator
from jivocrm.testing.daemon import Daemon, jivocrm, post
from jivocrm.testing.net import free_port

CHANNEL_TOKEN = "sentinelChanTok9q8w7e6r"
AMO_TOKEN = "sentinelAmoTok5t4y3u2i"
B24_CODE = "sentinelb24code1o0p"
SENTINELS = (CHANNEL_TOKEN, AMO_TOKEN, B24_CODE)

PROJECT = """\
version: 1
bundles: bundles/
server: {{reply_timeout: 2, workers: 4, body_limit: 65536}}
retry: {{initial: 0.2, multiplier: 2, max_delay: 0.5, attempts: 3}}
channels:
  shop: {{widget_id: {widget}, token: "${{JIVO_SHOP_TOKEN}}"}}
connections:
  amo:
    type: amocrm
    base_url: {amo_url}
    auth: {{long_lived_token: "${{AMO_TOKEN}}"}}
    rate_limit: {{rate: 1000, burst: 1000}}
  b24:
    type: bitrix24
    webhook_url: "${{B24_WEBHOOK_URL}}"
"""

B24_BUNDLE = """\
version: 1
name: b24
trigger: {event: chat_finished}
steps:
  - id: contact
    type: new_contact
    connection: b24
    fields:
      name: "{{ event.visitor.name }}"
      phone: "{{ event.visitor.phone }}"
    duplicates: {mode: skip, match: [phone]}
"""


def seed(package: Any, folder: Path, name: str, change: Any) -> Path:
    """The emulator's default seed with ``change`` applied (the sentinel credentials)."""
    yaml = YAML(typ="safe")
    data = yaml.load(Path(package.__file__).with_name("emulator_seed.yaml").read_text("utf-8"))
    change(data)
    path = folder / f"{name}.seed.yaml"
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(data, out)
    return path


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Daemon, Any, Any]]:
    def amo_tokens(data: dict[str, Any]) -> None:
        data["tokens"]["long_lived"] = [{"token": AMO_TOKEN, "user_id": 6100001}]

    def b24_code(data: dict[str, Any]) -> None:
        data["webhooks"] = [{"user_id": 1, "code": B24_CODE, "scopes": ["crm", "user", "task"]}]

    amo_seed = seed(amocrm_package, tmp_path, "amo", amo_tokens)
    b24_seed = seed(bitrix24_package, tmp_path, "b24", b24_code)
    async with (
        amo_emulator(amo_seed, rate_limit=0) as amo,
        b24_emulator(b24_seed) as b24,
    ):
        root = tmp_path / "project"
        (root / "bundles").mkdir(parents=True)
        text = PROJECT.format(widget=WIDGET, amo_url=amo.url)
        (root / "jivocrm.yaml").write_text(text, "utf-8")
        (root / "bundles" / "soak.yaml").write_text(BUNDLE, "utf-8")
        (root / "bundles" / "b24.yaml").write_text(B24_BUNDLE, "utf-8")
        env = {
            "JIVO_SHOP_TOKEN": CHANNEL_TOKEN,
            "AMO_TOKEN": AMO_TOKEN,
            "B24_WEBHOOK_URL": f"{b24.url}/rest/1/{B24_CODE}/",
        }
        daemon = Daemon(root, free_port(), token=CHANNEL_TOKEN, env=env)
        yield daemon, amo, b24
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()


async def cli(daemon: Daemon, *args: str) -> str:
    """Run a ``jivocrm`` command on the daemon's project; its stdout and stderr together."""
    proc = await asyncio.create_subprocess_exec(
        *jivocrm(),
        *args,
        cwd=daemon.root,
        env=daemon.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode("utf-8", errors="replace")


@pytest.mark.timeout(120)
async def test_no_secret_in_logs_journal_or_output(world: tuple[Daemon, Any, Any]) -> None:
    daemon, amo, b24 = world
    outputs: list[str] = []
    await daemon.start()
    async with aiohttp.ClientSession() as session:
        for chat in range(3):  # normal traffic: both CRMs answer
            outputs.append(str(await post(session, daemon.webhook, event_body(chat, 0))))
        await daemon.settled(6)
        # Failures: both CRMs refuse the credentials; plus requests the intake rejects.
        amo.state.faults.update({"auth_failure": True})
        b24.emulator.faults.update({"auth_failure": True})
        for chat in range(3, 6):
            outputs.append(str(await post(session, daemon.webhook, event_body(chat, 0))))
        bad = event_body(9, 0).replace(WIDGET.encode(), b"zzzzzzzzzz")
        outputs.append(str(await post(session, daemon.webhook, bad)))  # 403, wrong widget
        outputs.append(str(await post(session, daemon.webhook, b"{", "application/json")))
        outputs.append(str(await post(session, daemon.webhook, b"{}", "text/plain")))
        outputs.append(str(await post(session, daemon.url + "/jivo/" + CHANNEL_TOKEN[:-1], b"")))
        await daemon.settled(12)
        for path in ("/healthz", "/metrics"):
            async with session.get(daemon.url + path) as resp:
                outputs.append(await resp.text())
    statuses = daemon.run_counts()
    assert statuses.get("succeeded") == 6
    assert statuses.get("failed", 0) + statuses.get("paused", 0) >= 1, statuses  # auth failed
    run_ids = [row[0] for row in daemon.db("SELECT id FROM runs ORDER BY id")]
    event_ids = [row[0] for row in daemon.db("SELECT id FROM events ORDER BY id")]
    outputs.append(await cli(daemon, "channels", "--format", "json"))
    outputs.append(await cli(daemon, "channels"))
    outputs.append(await cli(daemon, "runs", "list"))
    outputs.append(await cli(daemon, "events", "list"))
    outputs.append(await cli(daemon, "validate"))
    # The first runs succeeded (amoCRM and Bitrix24), the last ones met the auth failures.
    for run in {*run_ids[:2], *run_ids[-2:]}:
        outputs.append(await cli(daemon, "runs", "show", str(run), "--full"))
    outputs.append(await cli(daemon, "runs", "show", str(run_ids[-1]), "--format", "json"))
    for event in (event_ids[0], event_ids[-1]):
        outputs.append(await cli(daemon, "events", "explain", str(event)))
    # The detector works: the one command meant to print the token does.
    assert CHANNEL_TOKEN in await cli(daemon, "channels", "--show-token")
    assert await daemon.stop() == 0

    files = [daemon.log, *sorted((daemon.root / ".jivocrm").glob("jivocrm.db*"))]
    found = {
        secret: sum(text.count(secret) for text in outputs)
        + sum(f.read_bytes().count(secret.encode()) for f in files)
        for secret in SENTINELS
    }
    shown = json.dumps(outputs, ensure_ascii=False)
    # The outputs are real: the journal's failures and the CRM calls are there to be read.
    assert "401" in shown or "auth" in shown.lower()
    assert found == dict.fromkeys(SENTINELS, 0)
