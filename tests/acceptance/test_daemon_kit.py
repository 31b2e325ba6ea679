"""What the daemon's acceptance tests share: ``jivocrm serve`` as a subprocess (``Daemon``), the
test project, and helpers for the amoCRM emulator running on a real port.

The emulator runs in the test's own event loop (port 0), so tests wait with ``asyncio.sleep``
and talk HTTP with aiohttp; the daemon is a separate process that can be killed with SIGKILL
(``jivocrm.testing.daemon``, shared with the reliability suite).
A module of its own (not conftest.py): test folders each have a conftest, and ``import conftest``
would find whichever was imported first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jivocrm.connectors.amocrm.emulator import RunningEmulator
from jivocrm.connectors.amocrm.emulator_routes import STATE
from jivocrm.testing import daemon
from jivocrm.testing.daemon import emulator_state, jivocrm, post, sample
from jivocrm.testing.net import free_port

TOKEN = "acceptance-channel-token-0001"
WIDGET = "aB3dE5fGh7"
AMO_TOKEN = "emulator-admin-token"

PROJECT = """\
version: 1
bundles: bundles/
server: {{reply_timeout: 5, workers: 8, shutdown_timeout: 5, body_limit: 65536}}
retry: {{attempts: 40, initial: 0.2, multiplier: 1.5, max_delay: 1.0}}
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

CONTACT_AND_DEAL = """\
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
      name: "Чат Jivo #{{ event.chat_id }}"
      contact: "{{ steps.contact.id }}"
      pipeline: Продажи
      stage: Первичный контакт
    duplicates: {mode: skip, match: [contact]}
"""

BUNDLES = {
    "accepted": "version: 1\nname: accepted\ntrigger: {event: chat_accepted}\nsteps:\n"
    + CONTACT_AND_DEAL
    + '  - id: reply\n    type: jivo_reply\n    crm_link: "{{ steps.deal.url }}"\n',
    # Each event leaves a note "seq N" (sent as page.title) on the chat's deal: the notes show
    # order and loss.
    "finished": "version: 1\nname: finished\ntrigger: {event: chat_finished}\nsteps:\n"
    + CONTACT_AND_DEAL
    + "  - id: note\n    type: add_note\n    connection: amo\n"
    + '    entity: {type: deal, id: "{{ steps.deal.id }}"}\n'
    + '    text: "{{ event.page.title }}"\n',
}


class Daemon(daemon.Daemon):
    """The acceptance project's daemon: its channel token and amoCRM token in the environment."""

    def __init__(self, root: Path, port: int) -> None:
        super().__init__(
            root, port, token=TOKEN, env={"JIVO_SHOP_TOKEN": TOKEN, "AMO_TOKEN": AMO_TOKEN}
        )


async def crm(emulator: RunningEmulator) -> dict[str, Any]:
    """The emulator's account as ``GET /_emulator/state`` shows it (contacts, leads, notes…)."""
    return await emulator_state(emulator.url)


def faults(emulator: RunningEmulator, **knobs: Any) -> None:
    emulator.app[STATE].faults.update(knobs)


__all__ = [
    "AMO_TOKEN",
    "BUNDLES",
    "PROJECT",
    "TOKEN",
    "WIDGET",
    "Daemon",
    "crm",
    "faults",
    "free_port",
    "jivocrm",
    "post",
    "sample",
]
