"""An alert storm through ``jivocrm serve``: 500 runs fail within a minute (the CRM refuses the
token), and each alert channel — webhook, e-mail, Telegram, all fakes on loopback — gets a
bounded number of messages that still account for every failed run."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator

import aiohttp
import pytest
from test_daemon_kit import Daemon, faults, post, sample

from jivocrm.connectors.amocrm.emulator import RunningEmulator
from jivocrm.testing.alert_sinks import AlertSinks

RUNS = 500
INTERVAL = 3.0  # notify.group_interval of the test project
BOT_TOKEN = "777000:storm-test-token"
FAILED = "runs failed"


@pytest.fixture
def sinks() -> Iterator[AlertSinks]:
    with AlertSinks(bot_token=BOT_TOKEN) as found:
        yield found


def notify_section(sinks: AlertSinks) -> str:
    return (
        "notify:\n"
        "  webhook_url: ${ALERT_WEBHOOK_URL}\n"
        f"  group_wait: 1\n  group_interval: {INTERVAL}\n"
        f"  email: {{host: 127.0.0.1, port: {sinks.smtp_port}, security: none,"
        " from: jivocrm@shop.example, to: [ops@shop.example]}\n"
        "  telegram: {bot_token: '${TELEGRAM_BOT_TOKEN}', chat_id: '-1001234',"
        f" api_url: '{sinks.telegram_url}'}}\n"
    )


def failed_in(texts: list[str]) -> int:
    """Failed runs a set of messages accounts for: a digest's count, or the runs it names."""
    total = 0
    for text in texts:
        if f"{FAILED} between" in text:
            total += int(text.split(f" {FAILED} between")[0].rsplit("\n", 1)[-1])
        else:
            total += text.count(" once the cause is fixed")
    return total


async def test_500_failed_runs_in_a_minute_make_a_bounded_number_of_messages(
    daemon: Daemon, emulator: RunningEmulator, sinks: AlertSinks
) -> None:
    project = daemon.root / "jivocrm.yaml"
    project.write_text(project.read_text("utf-8") + notify_section(sinks), "utf-8")
    daemon.env.update(ALERT_WEBHOOK_URL=sinks.webhook_url, TELEGRAM_BOT_TOKEN=BOT_TOKEN)
    faults(emulator, auth_failure=True)  # 401 for every call: each run fails at its first step
    await daemon.start()
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        gate = asyncio.Semaphore(20)

        async def one(chat: int) -> int:
            async with gate:
                event = sample("chat_finished", chat_id=chat, visitor={"phone": f"+7903{chat:07d}"})
                return (await post(session, daemon.webhook, json.dumps(event).encode()))[0]

        assert set(await asyncio.gather(*(one(c) for c in range(1, RUNS + 1)))) == {200}
    await daemon.settled(RUNS)
    assert daemon.run_counts() == {"failed": RUNS}

    def texts() -> dict[str, list[str]]:
        return {
            "webhook": [m["text"] for m in sinks.webhook],
            "email": [m.get_content() for m in sinks.mail],
            "telegram": [m["text"] for m in sinks.telegram],
        }

    for _ in range(600):  # the last batch waits at most one interval after the storm
        if all(failed_in(found) == RUNS for found in texts().values()):
            break
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    # At most one message per interval after the first, however busy the machine was.
    bound = 1 + math.ceil(elapsed / INTERVAL)
    received = texts()
    print({name: len(found) for name, found in received.items()}, f"bound {bound}")
    assert {name: failed_in(found) for name, found in received.items()} == dict.fromkeys(
        received, RUNS
    )
    assert all(1 <= len(found) <= bound for found in received.values()), (received.keys(), bound)
    digest = received["telegram"][-1]
    assert "jivocrm runs replay --failed --since" in digest
    assert "/ui/runs?status=failed&since=" in digest
    assert await daemon.stop() == 0
