"""Odd and hostile webhooks against the daemon's app: a JSON body whatever its label, shapes no
event has, text no store can hold, names that would become metric labels. The answer is 200 or
a 4xx, never a 500, and nothing a request sends grows the daemon's state."""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest
from test_server import URL, Start, bundle, entities, sample, settled, start

from jivocrm.server.app import STORE
from jivocrm.store.base import RunFilter

__all__ = ["start"]  # the fixture, used by name

EVENT = json.dumps(sample("chat_finished", chat_id=4401)).encode()


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
    ],
)
async def test_a_json_body_is_taken_whatever_its_content_type(
    start: Start, content_type: str | None
) -> None:
    client, app = await start({"finished": bundle("finished", "chat_finished")})
    headers = {} if content_type is None else {"Content-Type": content_type}
    # aiohttp's client would add a Content-Type of its own to bytes: skip_auto_headers.
    answer = await client.post(URL, data=EVENT, headers=headers, skip_auto_headers=["Content-Type"])
    assert (answer.status, len(await app[STORE].list_events())) == (200, 1)


async def test_content_types_are_counted_in_a_known_set(start: Start) -> None:
    client, _ = await start()
    rng = random.Random(7)
    for _ in range(40):
        kind = "".join(rng.choices(string.ascii_lowercase, k=8)) + "/" + str(rng.random())
        await client.post(URL, data=b"{}", headers={"Content-Type": kind})
    await client.post(URL, data=b"{}", headers={"Content-Type": "text/plain; charset=utf-8"})
    metrics = await (await client.get("/metrics")).text()
    counted = [line for line in metrics.splitlines() if line.startswith("jivocrm_webhook_content")]
    assert 'jivocrm_webhook_content_types_total{content_type="other"} 40.0' in counted
    assert 'jivocrm_webhook_content_types_total{content_type="text/plain"} 1.0' in counted


async def test_event_names_from_requests_never_become_metric_labels(start: Start) -> None:
    client, _ = await start()
    await client.post(URL, json={"event_name": "warm-up", "chat_id": 1})
    before = len(await (await client.get("/metrics")).text())
    for n in range(300):
        await client.post(URL, json={"event_name": f"{n:03d}" + "x" * 2000, "chat_id": n})
    after = await (await client.get("/metrics")).text()
    # The same series, larger counts: a few bytes more, not 300 labels of 2 KB.
    assert len(after) - before < 200, len(after) - before
    assert 'jivocrm_events_total{event="other",outcome="ignored"} 301.0' in after


async def test_text_no_store_can_hold_is_replaced_visibly(start: Start) -> None:
    client, app = await start({"finished": bundle("finished", "chat_finished")})
    # A lone surrogate (half an emoji) and NUL, as JSON escapes: valid JSON, invalid text.
    body = (
        b'{"event_name": "chat_finished", "chat_id": 4402, "widget_id": "aB3dE5fGh7",'
        b' "visitor": {"name": "\\ud83d \\u0000 Ira", "phone": "+79030004402"}}'
    )
    answer = await client.post(URL, data=body, headers={"Content-Type": "application/json"})
    await settled(app)
    [event] = await app[STORE].list_events()
    [run] = await app[STORE].list_runs(RunFilter())
    assert answer.status == 200
    assert event.payload()["visitor"]["name"] == "\ufffd \ufffd Ira"
    assert (run.status, run.attempt) == ("succeeded", 1)
    assert [c["name"] for c in entities(app)["contacts"]][-1] == "\ufffd \ufffd Ira"


@pytest.mark.parametrize(
    "changes",
    [
        {"chat_id": None, "visitor": "Ира"},
        {"chat_id": None, "visitor": ["Ира"], "user_token": {"a": 1}},
        {"agents": 5, "chat": "text"},
        {"chat": {"messages": "not a list"}, "agents": [None, 1, "x"]},
        {"visitor": {"name": {"first": "Ира"}, "phone": [1, 2], "email": 10**300}},
        {"widget_id": None, "chat_id": {"id": 1}},
    ],
    ids=lambda c: ",".join(c),
)
async def test_an_unexpected_shape_is_stored_and_runs_end_cleanly(
    start: Start, changes: dict[str, Any]
) -> None:
    client, app = await start({"finished": bundle("finished", "chat_finished")})
    answer = await client.post(URL, json=sample("chat_finished", **changes))
    await settled(app)
    runs = await app[STORE].list_runs(RunFilter())
    assert (answer.status, len(await app[STORE].list_events())) == (200, 1)
    assert all(r.status in ("succeeded", "failed") and r.attempt == 1 for r in runs), runs
