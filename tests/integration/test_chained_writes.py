"""On a CRM that takes a run's writes in one request (Bitrix24's ``batch`` with ``$result[…]``
references), a new visitor's contact, deal and transcript note cost ONE write, over HTTP against
the emulator, with a durable SQLite journal: each step still has its own record, the note keeps
its run marker, and a run resumed after a crash in that one call writes nothing twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from engine_project import bundle, entities, opened, write_project

from jivocrm import samples
from jivocrm.engine.connections import Connections
from jivocrm.engine.model import Project
from jivocrm.engine.runner import Runner
from jivocrm.journal.execution import execute_stored
from jivocrm.store.base import NewEvent, NewRun, Run
from jivocrm.store.journal import StoreJournal
from jivocrm.store.sqlite import SQLiteStore

# The deal step reuses the contact's open deal; then the transcript as a note on the deal.
CHAINED = """\
    duplicates: {mode: skip, match: [contact]}
  - id: note
    type: add_note
    connection: b24
    entity: {type: deal, id: "{{ steps.deal.id }}"}
    text: "{{ event.transcript }}"
"""


def comments(conns: Connections) -> list[dict[str, Any]]:
    from jivocrm.connectors.bitrix24.emulator import EMULATOR

    return list(conns.emulators["b24"].app[EMULATOR].state.comments.values())


def requests(conns: Connections) -> list[str]:
    from jivocrm.connectors.bitrix24.emulator import EMULATOR

    return [str(r["method"]) for r in conns.emulators["b24"].app[EMULATOR].state.requests]


async def run_once(store: SQLiteStore, project: Project, conns: Connections, run: Run) -> Any:
    runner = Runner(project, conns, conns.caches)
    journal = StoreJournal(store, run.id, run.attempt)
    return await execute_stored(store, runner, project.bundles[0], run, journal=journal)


async def stored_run(
    tmp_path: Path, visitors: int = 1, extra_steps: str = CHAINED
) -> tuple[Project, SQLiteStore]:
    """The project (contact and deal, then ``extra_steps``) and a store holding the sample chat
    of ``visitors`` different new visitors."""
    project = write_project(
        tmp_path, {"b": bundle("b24", event="chat_finished", extra_steps=extra_steps)}
    )
    store = SQLiteStore(tmp_path / "journal.db")
    await store.open()
    b = project.bundles[0]
    for n in range(visitors):
        payload = json.loads(samples.text("chat_finished"))
        payload["chat_id"] = f"chained-{n}"
        payload["visitor"] |= {"phone": f"+7 916 555-10-{n:02d}", "email": f"v{n}@mail.ru"}
        await store.accept(
            NewEvent(
                "shop",
                "chat_finished",
                f"k{n}",
                json.dumps(payload).encode(),
                1.0,
                runs=(NewRun(b.name, f"l{n}", b.version_hash),),
            )
        )
    return project, store


async def test_a_new_visitor_costs_one_search_and_one_write(tmp_path: Path) -> None:
    project, store = await stored_run(tmp_path, visitors=2)
    try:
        async with opened(project, tmp_path) as conns:
            # A first run fills the connection's caches of users and metadata.
            [first, run] = await store.claim("w", now=2.0, lease=60, limit=2)
            assert (await run_once(store, project, conns, first)).status == "succeeded"
            before = len(requests(conns))
            outcome = await run_once(store, project, conns, run)
            assert outcome.status == "succeeded", outcome.error
            state = entities(project, conns, "b24")
            sent = requests(conns)[before:]
            written = comments(conns)
            rows = {s.step_id: s for s in await store.steps(run.id)}
    finally:
        await store.close()
    assert sent == ["batch", "batch"]  # the duplicate search (phone and e-mail), the one write
    contact, deal = state["contacts"][-1], state["deals"][-1]
    assert deal["contacts"] == [contact["id"]]
    note = written[-1]
    assert str(note["ENTITY_ID"]) == deal["id"]
    assert note["ENTITY_TYPE"] == "deal"
    assert note["COMMENT"].endswith(f"\n\n— jivocrm run {run.id} · note")
    # Every step has its own durable record: ids, and the one call in the note's record.
    assert rows["contact"].record.output["id"] == contact["id"]
    assert rows["deal"].record.output["id"] == deal["id"]
    assert "in one CRM call" in (rows["deal"].record.message or "")
    assert rows["note"].record.output["id"] == str(note["ID"])
    [call] = rows["note"].record.calls
    commands = unquote(str(call["request"]))
    assert "crm.contact.add" in commands
    assert "crm.deal.add" in commands
    assert "crm.timeline.comment.add" in commands
    assert "$result[deal]" in commands


async def test_a_crash_inside_the_one_write_is_not_written_twice(tmp_path: Path) -> None:
    project, store = await stored_run(tmp_path)
    try:
        async with opened(project, tmp_path) as conns:
            [run] = await store.claim("w", now=2.0, lease=60)
            outcome = await run_once(store, project, conns, run)
            assert outcome.status == "succeeded", outcome.error
            # The crash: the batch reached the CRM, no step's result reached the journal.
            await store.db.write(lambda c: c.execute("DELETE FROM steps"))
            for step in ("contact", "deal", "note"):
                await store.step_started(run.id, step, 1, {})
            await store.retry_run(run.id, "w", retry_at=3.0, ran_hash=None, error="killed")
            [again] = await store.claim("w", now=4.0, lease=60)
            outcome = await run_once(store, project, conns, again)
            assert outcome.status == "succeeded", outcome.error
            state = entities(project, conns, "b24")
            written = comments(conns)
            rows = {s.step_id: s for s in await store.steps(run.id) if s.attempt == 2}
    finally:
        await store.close()
    assert len(state["contacts"]) == 1
    assert len(state["deals"]) == 1
    assert len(written) == 1
    assert "written before the interruption" in (rows["note"].record.message or "")


async def test_when_the_note_fails_inside_the_one_write_its_deal_is_not_made_again(
    tmp_path: Path,
) -> None:
    project, store = await stored_run(tmp_path)
    try:
        async with opened(project, tmp_path) as conns:
            rest = conns["b24"].rest  # type: ignore[attr-defined]
            send = rest.batch

            async def blank_comment(commands: Any, **options: Any) -> Any:
                # The portal refuses the comment: contact and deal are made, the note is not.
                if "note" in commands:
                    method, params = commands["note"]
                    commands = {
                        **commands,
                        "note": (method, {"fields": {**params["fields"], "COMMENT": " "}}),
                    }
                return await send(commands, **options)

            rest.batch = blank_comment
            [run] = await store.claim("w", now=2.0, lease=60)
            outcome = await run_once(store, project, conns, run)
            state = entities(project, conns, "b24")
            rows = {s.step_id: s for s in await store.steps(run.id)}
    finally:
        await store.close()
    assert outcome.status == "failed"
    assert len(state["contacts"]) == 1
    assert len(state["deals"]) == 1
    assert rows["deal"].record.output["id"] == state["deals"][0]["id"]
    assert rows["contact"].record.output["id"] == state["contacts"][0]["id"]
    assert rows["note"].record.status == "failed"


async def test_when_the_deal_fails_inside_the_contact_and_deal_batch_the_contact_is_not_made_again(
    tmp_path: Path,
) -> None:
    project, store = await stored_run(tmp_path, extra_steps="")
    try:
        async with opened(project, tmp_path) as conns:
            rest = conns["b24"].rest  # type: ignore[attr-defined]
            send = rest.batch

            async def refused_deal(commands: Any, **options: Any) -> Any:
                # The portal refuses the deal: the contact before it in the batch is made.
                if "deal" in commands and "contact" in commands:
                    commands = {**commands, "deal": ("crm.deal.refused", commands["deal"][1])}
                return await send(commands, **options)

            rest.batch = refused_deal
            [run] = await store.claim("w", now=2.0, lease=60)
            outcome = await run_once(store, project, conns, run)
            state = entities(project, conns, "b24")
            rows = {s.step_id: s for s in await store.steps(run.id)}
    finally:
        await store.close()
    assert outcome.status == "failed"
    assert len(state["contacts"]) == 1
    assert state["deals"] == []
    assert rows["contact"].record.output["id"] == state["contacts"][0]["id"]
