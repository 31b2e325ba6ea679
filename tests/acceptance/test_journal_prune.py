"""Pruning gives the disk space back: events go with their runs, steps and explanations, and the
SQLite file shrinks — with the daemon running, as retention happens in production."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from jivocrm.engine.project import load_project
from jivocrm.journal.retention import apply_retention
from jivocrm.store.sqlite import SQLiteStore
from journal_world import World, journal_world, sample

EVENTS = 150
NOTE = "Интересуется доставкой в Казань. " * 150  # ~5 KB of chat text per event


def fill(w: World) -> None:
    # chat_updated: no bundle runs on it, so the journal grows by events and explanations only
    # and the test spends its time on the store, not on CRM calls.
    w.send(sample(chat_id=8999, visitor={"phone": "+79161234567"}))  # one with a run and steps
    for n in range(EVENTS):
        w.send(sample("chat_updated", chat_id=9000 + n, visitor={"description": NOTE}))
    w.settle()


def test_prune_deletes_events_with_their_runs_and_shrinks_the_file(tmp_path: Path) -> None:
    with journal_world(tmp_path) as w:
        fill(w)
        report = w.json("journal", "prune", "--keep", "10")
        left = w.db_rows(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM not_matched),"
            " (SELECT count(*) FROM steps)"
        )
    print(f"journal: {report['bytes_before']} bytes before, {report['bytes_after']} after")
    assert report["deleted_events"] == EVENTS + 1 - 10
    assert left == [(10, 10 * 3, 0)]  # each chat_updated event: 3 bundles not matched
    assert report["bytes_after"] < report["bytes_before"] / 4


def test_prune_prints_the_sizes_before_and_after(tmp_path: Path) -> None:
    with journal_world(tmp_path) as w:
        fill(w)
        text = w.cli("journal", "prune", "--older-than", "0s").stdout
    assert f"Deleted {EVENTS + 1} event(s) received before" in text
    assert "Journal size: " in text


def test_automatic_retention_applies_the_project_limits(tmp_path: Path) -> None:
    with journal_world(tmp_path) as w:
        fill(w)
        w.stop()
        project, _ = load_project(w.root)
        assert project is not None
        project = dataclasses.replace(
            project, journal=dataclasses.replace(project.journal, max_events=25)
        )

        async def retain() -> int:
            store = SQLiteStore(w.db)
            await store.open()
            try:
                return await apply_retention(store, project, time.time())
            finally:
                await store.close()

        deleted = asyncio.run(retain())
        assert (deleted, w.db_rows("SELECT count(*) FROM events")) == (EVENTS + 1 - 25, [(25,)])
