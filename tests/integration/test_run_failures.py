"""Failures are classified: only a retriable CRM failure waits on the durable schedule (and only
while its run has held its lane for less than ``retry.max_lane_hold``); anything else fails the
run at once with a message, and the chat's next event goes ahead."""

from __future__ import annotations

import asyncio

from test_server import URL, Start, emulator, sample, settled, start

from jivocrm.connectors.amocrm.emulator_routes import STATE
from jivocrm.server.app import STORE, WORKERS
from jivocrm.store.base import RunFilter

__all__ = ["start"]

TAGS = """\
version: 1
name: tags
trigger: {event: client_updated}
steps:
  - id: colours
    type: table_replace
    value: "{{ event.tags | map(attribute='colour') | list }}"
    table: {a: b}
    default: none
"""
PLAIN = """\
version: 1
name: plain
trigger: {event: chat_finished}
steps:
  - id: source
    type: table_replace
    value: "{{ event.widget_id }}"
    table: {aB3dE5fGh7: Сайт 1}
    default: Сайт 2
"""


async def by_bundle(app: object) -> dict[str, list[tuple[str, int, str | None]]]:
    runs = await app[STORE].list_runs(RunFilter())  # type: ignore[index]
    out: dict[str, list[tuple[str, int, str | None]]] = {}
    for run in sorted(runs, key=lambda r: r.id):
        out.setdefault(run.bundle, []).append((run.status, run.attempt, run.error))
    return out


async def test_a_template_error_fails_at_once_and_the_chat_goes_on(start: Start) -> None:
    client, app = await start({"tags": TAGS})
    poisoned = sample("client_updated", chat_id=5501, tags=[{"id": 1, "title": "VIP"}])
    await client.post(URL, json=poisoned)
    await client.post(URL, json=sample("client_updated", chat_id=5501, tags=[]))
    await settled(app)
    [(first, attempt, error), second] = (await by_bundle(app))["tags"]
    assert (first, attempt, second[0]) == ("failed", 1, "succeeded")
    assert "field 'colour' is missing" in (error or "")


async def test_a_run_that_cannot_be_read_back_fails_at_once(start: Start) -> None:
    client, app = await start({"plain": PLAIN}, start_workers=False)
    await client.post(URL, json=sample("chat_finished", chat_id=5502))
    await client.post(URL, json=sample("chat_finished", chat_id=5502, page={"title": "2"}))
    # A stored body no longer JSON (a damaged row): reading the run back raises outside any step.
    store = app[STORE]
    [first, _] = sorted(await store.list_events(), key=lambda e: e.id)
    await store.db.write(  # type: ignore[attr-defined]
        lambda c: c.execute("UPDATE events SET body = x'ff00' WHERE id = ?", (first.id,))
    )
    await app[WORKERS].start()
    await settled(app)
    [(status, attempt, error), (later, _, _)] = (await by_bundle(app))["plain"]
    assert (status, attempt, later) == ("failed", 1, "succeeded")
    assert "could not execute this run" in (error or "")
    assert "runs replay" in (error or "")


async def test_a_run_holding_its_lane_too_long_fails_and_the_lane_moves_on(start: Start) -> None:
    client, app = await start(
        retry="retry: {attempts: 100, initial: 0.05, multiplier: 1, max_delay: 0.05, "
        "max_lane_hold: 3}"
    )
    emulator(app)[STATE].faults.status = 503  # every CRM call, until told otherwise
    await client.post(URL, json=sample(chat_id=5503, visitor={"phone": "+79030005503"}))
    await client.post(URL, json=sample(chat_id=5503, visitor={"phone": "+79030005504"}))
    first = None
    for _ in range(400):
        runs = sorted(await app[STORE].list_runs(RunFilter()), key=lambda r: r.id)
        if runs[0].status == "failed":
            first = runs[0]
            break
        await asyncio.sleep(0.02)
    assert first is not None
    assert "held its lane" in (first.error or "")
    assert "retry.max_lane_hold" in (first.error or "")
    emulator(app)[STATE].faults.status = 0
    await settled(app)
    [_, second] = sorted(await app[STORE].list_runs(RunFilter()), key=lambda r: r.id)
    assert second.status == "succeeded"


async def test_the_lane_hold_is_exposed_in_metrics(start: Start) -> None:
    client, app = await start(retry="retry: {attempts: 100, initial: 0.05, max_lane_hold: 900}")
    emulator(app)[STATE].faults.status = 503
    await client.post(URL, json=sample(chat_id=5504, visitor={"phone": "+79030005505"}))
    for _ in range(200):
        [run] = await app[STORE].list_runs(RunFilter())
        if run.attempt > 1:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    metrics = await (await client.get("/metrics")).text()
    held = next(line for line in metrics.splitlines() if line.startswith("jivocrm_lane_hold_sec"))
    assert float(held.split()[-1]) > 0
    assert "jivocrm_lane_hold_limit_seconds 900.0" in metrics
    emulator(app)[STATE].faults.status = 0
