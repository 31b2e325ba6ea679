"""``jivocrm init --crm retailcrm`` end to end: the default bundles, served by ``jivocrm serve``,
turn the sample events into customers and orders exactly as their comments promise — one
customer however the visitor writes the phone, the returning chat in the open order — against
``jivocrm emulate retailcrm``'s API on a real port."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jivocrm.connectors.retailcrm.emulator import RunningEmulator, running_emulator
from jivocrm.core.phones import normalize_phone
from jivocrm.testing.daemon import Daemon, emulator_state, jivocrm, post, sample
from jivocrm.testing.net import free_port

pytestmark = pytest.mark.timeout(120)
TOKEN = "retail-shop-token-0001"
PHONE = "+79265550102"
VISITOR = {"name": "Пётр Новиков", "email": "petr@example.ru"}


def init_project(root: Path, emulator_url: str) -> None:
    made = subprocess.run(
        [*jivocrm(), "init", str(root), "--crm", "retailcrm", "--emulate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    config = root / "jivocrm.yaml"
    text = config.read_text("utf-8")
    # The daemon talks to the emulator process over HTTP instead of starting its own.
    text = re.sub(r"(?m)^(\s+)url: https://\S+.*$", rf"\1url: {emulator_url}", text)
    text = re.sub(r"(?m)^\s+emulate: true.*\n", "", text)
    config.write_text(text, "utf-8")
    (root / ".env").write_text(
        f"JIVO_SHOP_TOKEN={TOKEN}\nRETAILCRM_API_KEY=emulator-api-key\n", "utf-8"
    )


def the_visitors(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for c in state["customers"]
        if any(normalize_phone(p.get("number")) == PHONE for p in c.get("phones") or [])
    ]


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with running_emulator() as emu:
        yield emu


@pytest.fixture
async def daemon(tmp_path: Path, emulator: RunningEmulator) -> AsyncIterator[Daemon]:
    """``jivocrm serve`` on a fresh init project, started; stopped cleanly after the test."""
    root = tmp_path / "shop"
    init_project(root, emulator.url)
    served = Daemon(root, free_port(), token=TOKEN)
    await served.start()
    yield served
    assert await served.stop() == 0


async def test_sample_events_make_one_customer_and_one_order_whatever_the_phone_spelling(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    async with aiohttp.ClientSession() as session:
        accepted = sample("chat_accepted", visitor={**VISITOR, "phone": "+7 (926) 555-01-02"})
        status, reply = await post(session, daemon.webhook, json.dumps(accepted).encode())
        first = sample(
            "chat_finished", chat_id=70001, visitor={**VISITOR, "phone": "8 926 555 01 02"}
        )
        second = sample(
            "chat_finished", chat_id=70002, visitor={**VISITOR, "phone": "+7 926 5550102"}
        )
        # A returning visitor: the second chat comes once the first is in the CRM.
        await post(session, daemon.webhook, json.dumps(first).encode())
        await daemon.settled(2)
        await post(session, daemon.webhook, json.dumps(second).encode())
    await daemon.settled(3)
    state = await emulator_state(emulator.url)

    [customer] = the_visitors(state)
    assert status == 200
    assert reply["crm_link"].endswith(f"/customers/{customer['id']}")
    assert customer["firstName"].startswith("Пётр")
    orders = [o for o in state["orders"] if str(o["customer"]) == str(customer["id"])]
    [order] = orders  # the second chat went into the open order
    assert (order["site"], order["status"], order["orderMethod"]) == ("shop", "new", "live-chat")
    assert str(order["customFields"]["jivo_chat"]) == "70001"
    transcripts = [n for n in state["notes"] if n["customer"]["id"] == customer["id"]]
    assert len(transcripts) == 2
    assert daemon.run_counts() == {"succeeded": 3}


async def test_two_chats_of_one_new_visitor_at_once_make_one_customer_and_one_order(
    daemon: Daemon, emulator: RunningEmulator
) -> None:
    orders_before = len((await emulator_state(emulator.url))["orders"])
    async with aiohttp.ClientSession() as session:
        # Two lanes (two chats), the same person, spelled two ways, in the same moment.
        chats = [
            sample("chat_finished", chat_id=chat, visitor={**VISITOR, "phone": phone})
            for chat, phone in ((71001, "8 926 555 01 02"), (71002, "+7 926 5550102"))
        ]
        await asyncio.gather(
            *(post(session, daemon.webhook, json.dumps(c).encode()) for c in chats)
        )
    await daemon.settled(2)
    state = await emulator_state(emulator.url)
    [customer] = the_visitors(state)
    assert len(state["orders"]) == orders_before + 1
    transcripts = [n for n in state["notes"] if n["customer"]["id"] == customer["id"]]
    assert len(transcripts) == 2
