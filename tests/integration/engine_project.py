"""A small two-CRM project for the engine's integration tests, written into a temp folder."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from jivocrm.engine.bundle_tests import crm_state
from jivocrm.engine.connections import Connections, open_connections
from jivocrm.engine.model import Project
from jivocrm.engine.project import load_project

PROJECT = """\
version: 1
bundles: bundles/
connections:
  amo: {type: amocrm, emulate: true, auth: {long_lived_token: "${AMO_TOKEN}"}}
  b24: {type: bitrix24, emulate: true}
"""
PIPELINES = {"amo": ("Продажи", "Первичный контакт"), "b24": ("Чаты с сайта", "Консультация")}


def bundle(
    conn: str,
    *,
    event: str = "chat_accepted",
    mode: str = "skip",
    match: str = "[phone, email]",
    extra_steps: str = "",
) -> str:
    pipeline, stage = PIPELINES[conn]
    return f"""\
version: 1
name: {conn}-{event}
trigger: {{event: {event}}}
steps:
  - id: operator
    type: find_employee
    connection: {conn}
    login: "{{{{ event.operator.email }}}}"
    default: Ольга Петрова
  - id: contact
    type: new_contact
    connection: {conn}
    fields:
      name: "{{{{ event.visitor.name }}}}"
      phone: "{{{{ event.visitor.phone }}}}"
      email: "{{{{ event.visitor.email }}}}"
      responsible: "{{{{ steps.operator.id }}}}"
    duplicates: {{mode: {mode}, match: {match}}}
  - id: deal
    type: new_deal
    connection: {conn}
    fields:
      name: "Чат Jivo #{{{{ event.chat_id }}}}"
      contact: "{{{{ steps.contact.id }}}}"
      pipeline: {pipeline}
      stage: {stage}
      responsible: "{{{{ steps.operator.id }}}}"
{extra_steps}"""


def write_project(root: Path, bundles: dict[str, str]) -> Project:
    (root / "bundles").mkdir(parents=True, exist_ok=True)
    (root / "jivocrm.yaml").write_text(PROJECT, "utf-8")
    for name, text in bundles.items():
        (root / "bundles" / f"{name}.yaml").write_text(text, "utf-8")
    project, problems = load_project(root)
    assert project is not None, problems
    return project


@contextlib.asynccontextmanager
async def opened(
    project: Project, root: Path, state: dict[str, Any] | None = None
) -> AsyncIterator[Connections]:
    """Emulators seeded with ``state`` per connection (empty CRMs by default), limits off."""
    state = state or {"amo": {"contacts": []}, "b24": {"contacts": []}}
    seeds = {
        name: crm_state.write_seed(project.connections[name].type, s, root, name)
        for name, s in state.items()
    }
    async with (
        aiohttp.ClientSession() as session,
        open_connections(project, session, seeds=seeds, fast_emulators=True) as conns,
    ):
        for name, emulator in conns.emulators.items():
            crm_state.quiet(project.connections[name].type, emulator.app)
        yield conns


def entities(project: Project, conns: Connections, name: str) -> dict[str, Any]:
    return crm_state.entities(project.connections[name].type, conns.emulators[name].app)


def requests(project: Project, conns: Connections, name: str) -> int:
    app = conns.emulators[name].app
    if project.connections[name].type == "amocrm":
        from jivocrm.connectors.amocrm.emulator_routes import STATE

        return len(app[STATE].requests)
    from jivocrm.connectors.bitrix24.emulator import EMULATOR

    return len(app[EMULATOR].state.requests)


__all__ = ["bundle", "entities", "opened", "requests", "write_project"]
