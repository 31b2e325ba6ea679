"""A note step resumed after a crash writes its note at most once, on both CRMs over HTTP.

The crash window no CRM closes: the note is in the CRM, the journal has only "started" for the
step. Re-created here in a real SQLite journal, then the run is resumed as the daemon would
(``execute_stored``): the step finds its marker among the record's notes and writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_project import bundle, opened, write_project
from test_engine_emulators import NOTE

from jivocrm import samples
from jivocrm.engine.connections import Connections
from jivocrm.engine.model import Project
from jivocrm.engine.runner import Runner
from jivocrm.journal.execution import execute_stored
from jivocrm.store.base import NewEvent, NewRun, Run
from jivocrm.store.journal import StoreJournal
from jivocrm.store.sqlite import SQLiteStore


def notes(project: Project, conns: Connections, conn: str) -> list[str]:
    app = conns.emulators[conn].app
    if project.connections[conn].type == "amocrm":
        from jivocrm.connectors.amocrm.emulator_routes import STATE

        return [n["params"]["text"] for n in app[STATE].notes]
    from jivocrm.connectors.bitrix24.emulator import EMULATOR

    return [c["COMMENT"] for c in app[EMULATOR].state.comments.values()]


async def run_once(store: SQLiteStore, project: Project, conns: Connections, run: Run) -> Any:
    bundle_ = project.bundles[0]
    runner = Runner(project, conns, conns.caches)
    journal = StoreJournal(store, run.id, run.attempt)
    return await execute_stored(store, runner, bundle_, run, journal=journal)


async def crashed_after_the_note(
    tmp_path: Path, conn: str, note_reached_the_crm: bool
) -> tuple[list[str], str | None, int]:
    project = write_project(
        tmp_path, {"b": bundle(conn, event="chat_finished", extra_steps=NOTE.format(conn=conn))}
    )
    store = SQLiteStore(tmp_path / "journal.db")
    await store.open()
    body = samples.text("chat_finished").encode()
    b = project.bundles[0]
    await store.accept(
        NewEvent(
            "shop", "chat_finished", "k", body, 1.0, runs=(NewRun(b.name, "l", b.version_hash),)
        )
    )
    try:
        async with opened(project, tmp_path) as conns:
            [run] = await store.claim("w", now=2.0, lease=60)
            outcome = await run_once(store, project, conns, run)
            assert outcome.status == "succeeded", outcome.error
            assert len(notes(project, conns, conn)) == 1
            # The crash: the note step's record is lost, its "started" row remains.
            await store.db.write(lambda c: c.execute("DELETE FROM steps WHERE step_id = 'note'"))
            await store.step_started(run.id, "note", 1, {})
            if not note_reached_the_crm:  # the process died before the CRM heard anything
                wipe(project, conns, conn)
            await store.retry_run(run.id, "w", retry_at=3.0, ran_hash=None, error="killed")
            [again] = await store.claim("w", now=4.0, lease=60)
            outcome = await run_once(store, project, conns, again)
            assert outcome.status == "succeeded", outcome.error
            [record] = [
                s.record
                for s in await store.steps(run.id)
                if s.step_id == "note" and s.attempt == 2
            ]
            return notes(project, conns, conn), record.message, run.id
    finally:
        await store.close()


def wipe(project: Project, conns: Connections, conn: str) -> None:
    app = conns.emulators[conn].app
    if project.connections[conn].type == "amocrm":
        from jivocrm.connectors.amocrm.emulator_routes import STATE

        app[STATE].notes.clear()
    else:
        from jivocrm.connectors.bitrix24.emulator import EMULATOR

        app[EMULATOR].state.comments.clear()


@pytest.mark.parametrize("conn", ["amo", "b24"])
async def test_a_note_the_crm_already_has_is_not_written_again(tmp_path: Path, conn: str) -> None:
    written, message, run_id = await crashed_after_the_note(tmp_path, conn, True)
    assert len(written) == 1
    assert written[0].endswith(f"\n\n— jivocrm run {run_id} · note")
    assert "written before the interruption" in (message or "")


@pytest.mark.parametrize("conn", ["amo", "b24"])
async def test_a_note_the_crm_never_got_is_written_once(tmp_path: Path, conn: str) -> None:
    written, message, _ = await crashed_after_the_note(tmp_path, conn, False)
    assert len(written) == 1
    assert "added to deal" in (message or "")
