"""The reliability harness: a generator of unique events over N chats, a nemesis that SIGKILLs
the daemon at random moments and restarts it, and a checker that compares the events the
daemon acknowledged with what the CRM emulator holds.

The shape follows Jepsen's: clients (one sender per chat, each sending its chat's events one
after another, so arrival order is the chat's order), a nemesis, and a checker that reads the
final state and counts what was lost, duplicated, unexpected or out of order. Every sender
retries an event until it is acknowledged (a 200), as a webhook source with at-least-once
delivery would; the daemon's dedup key makes a byte-identical redelivery one event.

The soak bundle leaves one note per event, ``soak chat C seq N``, on the chat's deal: the notes
show loss, order and redone steps; contacts and deals (duplicate checks on) must be exactly one
per chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from jivocrm.testing.daemon import Daemon, jivocrm, post, sample
from jivocrm.testing.net import free_port, wait_for

WIDGET = "aB3dE5fGh7"
CHAT_BASE = 700_000  # chat ids far from the emulator's demo data
NOTE = re.compile(r"soak chat (\d+) seq (\d+)")

PROJECT = """\
version: 1
bundles: bundles/
server: {{reply_timeout: 5, workers: {workers}, shutdown_timeout: 5, body_limit: 65536}}
retry: {{initial: {initial}, multiplier: 2, max_delay: {max_delay}, attempts: {attempts}}}
channels:
  shop: {{widget_id: {widget}, token: "${{JIVO_SHOP_TOKEN}}"}}
connections:
  amo:
    type: amocrm
    base_url: {crm_url}
    auth: {{long_lived_token: "${{AMO_TOKEN}}"}}
    rate_limit: {{rate: 1000, burst: 1000}}
    timeout: 2
"""

BUNDLE = """\
version: 1
name: soak
trigger: {event: chat_finished}
steps:
  - id: contact
    type: new_contact
    connection: amo
    fields:
      name: "{{ event.visitor.name }}"
      phone: "{{ event.visitor.phone }}"
      email: "{{ event.visitor.email }}"
    duplicates: {mode: skip, match: [phone, email]}
  - id: deal
    type: new_deal
    connection: amo
    fields:
      name: "Soak deal {{ event.chat_id }}"
      contact: "{{ steps.contact.id }}"
      pipeline: Продажи
      stage: Первичный контакт
    duplicates: {mode: skip, match: [contact]}
  - id: note
    type: add_note
    connection: amo
    entity: {type: deal, id: "{{ steps.deal.id }}"}
    text: "{{ event.page.title }}"
"""


@dataclass(frozen=True)
class Retry:
    """The project's durable retry schedule: short, so an outage in a test drains quickly."""

    initial: float = 0.5
    max_delay: float = 2.0
    attempts: int = 50


def write_project(root: Path, crm_url: str, *, retry: Retry = Retry(), workers: int = 8) -> Path:
    """The soak project (one channel, one amoCRM connection, the soak bundle) under ``root``."""
    (root / "bundles").mkdir(parents=True, exist_ok=True)
    text = PROJECT.format(
        workers=workers,
        initial=retry.initial,
        max_delay=retry.max_delay,
        attempts=retry.attempts,
        widget=WIDGET,
        crm_url=crm_url,
    )
    (root / "jivocrm.yaml").write_text(text, "utf-8")
    (root / "bundles" / "soak.yaml").write_text(BUNDLE, "utf-8")
    return root


def event_body(chat: int, seq: int) -> bytes:
    """Event ``seq`` of chat ``chat``: unique bytes; the visitor is the chat's own."""
    chat_id = CHAT_BASE + chat
    visitor = {
        "name": f"Soak visitor {chat_id}",
        "phone": f"+7905{chat_id:07d}",
        "email": f"soak{chat_id}@example.ru",
    }
    data = sample(
        "chat_finished",
        chat_id=chat_id,
        visitor=visitor,
        page={"title": f"soak chat {chat_id} seq {seq}"},
    )
    return json.dumps(data, ensure_ascii=False).encode()


class EmulatorProcess:
    """``jivocrm emulate amocrm`` as its own process: the CRM survives the daemon's kills and
    does not share the test's CPU time slice."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*jivocrm(), "emulate", "amocrm", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.url + "/_emulator/state", deadline=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def faults(self, session: aiohttp.ClientSession, **knobs: Any) -> None:
        async with session.post(self.url + "/_emulator/faults", json=knobs) as resp:
            assert resp.status == 200, await resp.text()

    async def state(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(self.url + "/_emulator/state") as resp:
            state: dict[str, Any] = await resp.json()
            return state


@dataclass
class Ledger:
    """What the senders saw: per chat, the seqs acknowledged (in order), and every status."""

    acked: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    refused: int = 0  # connection errors: the daemon was down; the event was sent again

    @property
    def events(self) -> int:
        return sum(len(seqs) for seqs in self.acked.values())


async def send_chat(
    session: aiohttp.ClientSession,
    daemon: Daemon,
    chat: int,
    seqs: Iterable[int],
    ledger: Ledger,
    *,
    deadline: float,
    pace: float = 0.0,
) -> None:
    """Send chat ``chat``'s events in order, each until it is acknowledged (or ``deadline``,
    a ``time.monotonic()`` value, passes); ``pace`` seconds between events."""
    chat_id = CHAT_BASE + chat
    for seq in seqs:
        body = event_body(chat, seq)
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"chat {chat_id} seq {seq} not acknowledged in time")
            try:
                status, _ = await post(session, daemon.webhook, body)
            except (TimeoutError, aiohttp.ClientError):
                ledger.refused += 1
                await asyncio.sleep(0.1)
                continue
            ledger.statuses[status] += 1
            if status == 200:
                ledger.acked[chat_id].append(seq)
                break
            await asyncio.sleep(0.1)  # a 503 while shutting down: send again
        if pace:
            await asyncio.sleep(pace)


@dataclass
class Nemesis:
    """SIGKILLs the daemon at random moments and starts it again, until told to stop."""

    daemon: Daemon
    rng: random.Random
    gap: tuple[float, float] = (1.0, 4.0)  # seconds of uptime between kills
    kills: int = 0
    running_at_kill: int = 0  # runs the store showed as running just after the kills

    async def run(self, stop: asyncio.Event, max_kills: int) -> None:
        while self.kills < max_kills and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(*self.gap))
            if stop.is_set():
                return
            self.daemon.kill()
            self.kills += 1
            self.running_at_kill += self.daemon.run_counts().get("running", 0)
            await asyncio.sleep(self.rng.uniform(0.0, 0.5))  # down for a moment
            await self.daemon.start()


@dataclass
class Verdict:
    """What the checker found; ``ok`` when nothing was lost, duplicated, unexpected or late."""

    events: int
    chats: int
    kills: int
    contacts: int
    deals: int
    notes: int
    lost: int
    duplicated: int  # contacts and deals beyond one per chat
    redone: int  # notes written twice for one event (a step redone after a kill)
    unexpected: int  # notes for events never acknowledged
    order_violations: int  # chats whose notes came in another order than their events
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.unexpected == 0
            and self.order_violations == 0
            and self.contacts == self.chats
            and self.deals == self.chats
        )

    def summary(self) -> str:
        figures = (
            f"events={self.events} chats={self.chats} kills={self.kills} "
            f"contacts={self.contacts} deals={self.deals} notes={self.notes} lost={self.lost} "
            f"duplicated={self.duplicated} redone_notes={self.redone} "
            f"unexpected={self.unexpected} order_violations={self.order_violations} "
            f"seconds={self.seconds:.1f}"
        )
        more = " ".join(f"{k}={v}" for k, v in self.extra.items())
        return f"{figures} {more}".strip()


def check(ledger: Ledger, state: Mapping[str, Any], *, kills: int = 0) -> Verdict:
    """Compare the acknowledged events with the emulator's contacts, deals and notes."""
    chat_ids = set(ledger.acked)
    contacts = [c for c in state["contacts"] if _soak_chat(c.get("name"), "Soak visitor ")]
    deals = [d for d in state["leads"] if _soak_chat(d.get("name"), "Soak deal ")]
    seen: dict[int, list[int]] = defaultdict(list)
    for note in sorted(state["notes"], key=lambda n: int(n["id"])):
        match = NOTE.search(json.dumps(note, ensure_ascii=False))
        if match:
            seen[int(match.group(1))].append(int(match.group(2)))
    acked = {(chat, seq) for chat, seqs in ledger.acked.items() for seq in seqs}
    written = {(chat, seq) for chat, seqs in seen.items() for seq in seqs}
    contact_chats = {_soak_chat(c["name"], "Soak visitor ") for c in contacts}
    deal_chats = {_soak_chat(d["name"], "Soak deal ") for d in deals}
    # Each chat's seqs were sent in ascending order, each after the previous one's 200.
    order = sum(1 for seqs in seen.values() if _first_seen(seqs) != sorted(set(seqs)))
    return Verdict(
        events=len(acked),
        chats=len(chat_ids),
        kills=kills,
        contacts=len(contact_chats),
        deals=len(deal_chats),
        notes=sum(len(s) for s in seen.values()),
        lost=len(acked - written),
        duplicated=(len(contacts) - len(contact_chats)) + (len(deals) - len(deal_chats)),
        redone=sum(len(s) for s in seen.values()) - len(written),
        unexpected=len(written - acked),
        order_violations=order,
    )


def _soak_chat(name: object, prefix: str) -> int | None:
    if isinstance(name, str) and name.startswith(prefix) and name[len(prefix) :].isdigit():
        return int(name[len(prefix) :])
    return None


def _first_seen(seqs: list[int]) -> list[int]:
    """Order of first occurrences: a note redone after a kill does not count as disorder."""
    out: list[int] = []
    for seq in seqs:
        if seq not in out:
            out.append(seq)
    return out


__all__ = [
    "BUNDLE",
    "PROJECT",
    "WIDGET",
    "EmulatorProcess",
    "Ledger",
    "Nemesis",
    "Retry",
    "Verdict",
    "check",
    "event_body",
    "send_chat",
    "write_project",
]
