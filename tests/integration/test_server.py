"""The daemon's app in-process (aiohttp test client) against the amoCRM emulator on port 0."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from jivocrm import samples
from jivocrm.connectors.amocrm.emulator_routes import STATE
from jivocrm.engine.bundle_tests import crm_state
from jivocrm.engine.project import load_project
from jivocrm.server import notify
from jivocrm.server.app import CONNECTIONS, DAEMON, STORE, create_app
from jivocrm.server.reload import reload
from jivocrm.store.base import RunFilter
from jivocrm.testing.alert_sinks import AlertSinks

TOKEN = "test-channel-token-0001"
WIDGET = "aB3dE5fGh7"
URL = f"/jivo/{TOKEN}"

PROJECT = """\
version: 1
bundles: bundles/
server: {{reply_timeout: {reply_timeout}, body_limit: 65536}}
{retry}
channels:
  shop: {{widget_id: {widget}, token: "${{JIVO_SHOP_TOKEN}}"}}
connections:
  amo: {{type: amocrm, emulate: true, auth: {{long_lived_token: "${{AMO_TOKEN}}"}}}}
{extra}"""

BUNDLE = """\
version: 1
name: {name}
enabled: {enabled}
trigger: {{event: {event}}}
steps:
  - id: contact
    type: new_contact
    connection: amo
    fields:
      name: "{{{{ event.visitor.name }}}}"
      phone: "{{{{ event.visitor.phone }}}}"
      email: "{{{{ event.visitor.email }}}}"
    duplicates: {{mode: skip, match: [phone, email]}}
  - id: deal
    type: new_deal
    connection: amo
    fields:
      name: "Чат Jivo #{{{{ event.chat_id }}}}"
      contact: "{{{{ steps.contact.id }}}}"
      pipeline: Продажи
      stage: Первичный контакт
    duplicates: {{mode: skip, match: [contact]}}
"""
REPLY = """\
  - id: reply
    type: jivo_reply
    crm_link: "{{ steps.deal.url }}"
"""

Start = Callable[..., Awaitable[tuple[TestClient[Any, Any], web.Application]]]


def bundle(name: str = "accepted", event: str = "chat_accepted", enabled: bool = True) -> str:
    text = BUNDLE.format(name=name, event=event, enabled=str(enabled).lower())
    return text + REPLY if event in ("chat_accepted", "chat_updated") else text


def sample(event: str = "chat_accepted", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = samples.load(event)
    data = copy.deepcopy(data)
    data.update(changes)
    return data


RETRY = "retry: {attempts: 3, initial: 0.1, multiplier: 1, max_delay: 0.1}"


def write(
    root: Path,
    bundles: dict[str, str],
    reply_timeout: float = 5,
    extra: str = "",
    retry: str = RETRY,
) -> None:
    (root / "bundles").mkdir(parents=True, exist_ok=True)
    text = PROJECT.format(reply_timeout=reply_timeout, widget=WIDGET, extra=extra, retry=retry)
    (root / "jivocrm.yaml").write_text(text, "utf-8")
    for name, content in bundles.items():
        (root / "bundles" / f"{name}.yaml").write_text(content, "utf-8")


@pytest.fixture
def start(tmp_path: Path, aiohttp_client: Any) -> Start:
    async def go(
        bundles: dict[str, str] | None = None, start_workers: bool = True, **options: Any
    ) -> tuple[TestClient[Any, Any], web.Application]:
        write(tmp_path, bundles if bundles is not None else {"accepted": bundle()}, **options)
        project, problems = load_project(tmp_path)
        assert project is not None, problems
        env = {"JIVO_SHOP_TOKEN": TOKEN}
        app = create_app(project, environ=env, workers=4, start_workers=start_workers)
        client = await aiohttp_client(app)
        return client, app

    return go


def emulator(app: web.Application) -> web.Application:
    return app[CONNECTIONS].emulators["amo"].app


def entities(app: web.Application) -> dict[str, Any]:
    return crm_state.entities("amocrm", emulator(app))


async def settled(app: web.Application, polls: int = 200) -> None:
    """Wait until no run is queued or running."""
    store = app[STORE]
    for _ in range(polls):
        runs = await store.list_runs(RunFilter(limit=1000))
        if all(r.status not in ("queued", "running") for r in runs):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("runs did not settle")


async def test_chat_accepted_is_answered_with_the_crm_link(start: Start) -> None:
    client, app = await start()
    resp = await client.post(URL, json=sample(visitor={"name": "Ира", "phone": "+79030000001"}))
    reply = await resp.json()
    deal = entities(app)["deals"][-1]
    assert reply["crm_link"].endswith(f"/leads/detail/{deal['id']}")


async def test_the_late_reply_is_kept_with_the_run(start: Start) -> None:
    client, app = await start(reply_timeout=0.01)
    emulator(app)[STATE].faults.latency = 0.2
    resp = await client.post(URL, json=sample(visitor={"phone": "+79030000002"}))
    assert await resp.json() == {"result": "ok"}
    await settled(app)
    [run] = await app[STORE].list_runs(RunFilter())
    assert "crm_link" in (run.reply or {})


BAD = [
    ("wrong token", "/jivo/nope", {"Content-Type": "application/json"}, b"{}", 404),
    ("empty token", "/jivo/", {"Content-Type": "application/json"}, b"{}", 404),
    ("form body", URL, {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&b=2", 400),
    (
        "NaN",
        URL,
        {"Content-Type": "application/json"},
        b'{"event_name":"chat_finished","chat_id":NaN}',
        400,
    ),
    ("Infinity", URL, {}, b'{"event_name":"chat_finished","chat_id":-Infinity}', 400),
    (
        "1e999",
        URL,
        {"Content-Type": "text/plain"},
        b'{"event_name":"chat_finished","chat_id":1e999}',
        400,
    ),
    ("malformed", URL, {"Content-Type": "application/json"}, b'{"event_name":', 400),
    ("not utf-8", URL, {"Content-Type": "application/json"}, b'{"a":"\xff"}', 400),
    ("deep", URL, {"Content-Type": "application/json"}, b"[" * 30000 + b"]" * 30000, 400),
    ("oversized", URL, {"Content-Type": "application/json"}, b" " * 70000 + b"{}", 413),
    ("array", URL, {"Content-Type": "application/json"}, b"[1]", 400),
    ("no event_name", URL, {"Content-Type": "application/json"}, b'{"chat_id": 1}', 400),
]


@pytest.mark.parametrize(
    ("case", "path", "headers", "body", "status"), BAD, ids=[b[0] for b in BAD]
)
async def test_bad_input_gets_its_4xx_and_stores_nothing(
    start: Start, case: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    client, app = await start()
    resp = await client.post(path, data=body, headers=headers)
    assert (resp.status, await app[STORE].list_events()) == (status, [])


@pytest.mark.parametrize(
    ("case", "path", "headers", "body", "status"), BAD, ids=[b[0] for b in BAD]
)
async def test_each_refusal_is_recorded_with_its_status(
    start: Start, case: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    client, app = await start()
    await client.post(path, data=body, headers=headers)
    recorder = app[DAEMON].refusals
    assert recorder is not None
    await recorder.flush()
    counts = await app[STORE].refusal_counts()
    detailed = await app[STORE].refusals()
    if path == "/jivo/":  # no route at all: not a delivery to any channel
        assert (counts, detailed) == ([], [])
    elif status == 404:  # an unknown token: counted per remote address, no body kept
        assert ([(c.channel, c.status, c.count) for c in counts], detailed) == ([("", 404, 1)], [])
    else:
        assert [(r.channel, r.status) for r in detailed] == [("shop", status)]
        assert [(c.channel, c.status, c.count) for c in counts] == [("shop", status, 1)]


async def test_a_refusal_keeps_a_redacted_excerpt_of_the_body(start: Start) -> None:
    client, app = await start()
    body = sample(widget_id="someone-else", visitor={"name": TOKEN, "phone": "+79161234567"})
    resp = await client.post(URL, json=body)
    await app[DAEMON].refusals.flush()  # type: ignore[union-attr]
    (refused,) = await app[STORE].refusals()
    assert (resp.status, refused.status, await app[STORE].list_events()) == (403, 403, [])
    assert "someone-else" in refused.reason
    assert (TOKEN.encode() in refused.body, b"***" in refused.body) == (False, True)
    assert 0 < len(refused.body) <= 1024  # an excerpt, not the body


async def test_an_unknown_event_is_acknowledged_and_recorded_as_ignored(start: Start) -> None:
    client, app = await start()
    resp = await client.post(URL, json={"event_name": "chat_rated", "chat_id": 5})
    [event] = await app[STORE].list_events()
    assert (resp.status, await resp.json(), event.status) == (200, {"result": "ok"}, "ignored")


async def test_a_byte_identical_redelivery_gives_one_run(start: Start) -> None:
    client, app = await start()
    body = json.dumps(sample(visitor={"phone": "+79030000003"})).encode()
    headers = {"Content-Type": "application/json"}
    answers = await asyncio.gather(
        *(client.post(URL, data=body, headers=headers) for _ in range(5))
    )
    assert [a.status for a in answers] == [200] * 5
    assert len(await app[STORE].list_runs(RunFilter())) == 1


async def test_bundles_that_do_not_run_are_explained(start: Start) -> None:
    client, app = await start(
        {"accepted": bundle(), "finished": bundle("finished", "chat_finished")}
    )
    await client.post(URL, json=sample(visitor={"phone": "+79030000004"}))
    [event] = await app[STORE].list_events()
    assert await app[STORE].not_matched(event.id) == [
        ("finished", "event is chat_accepted; the bundle runs on chat_finished")
    ]


async def test_a_paused_bundle_holds_runs_until_it_is_enabled(start: Start, tmp_path: Path) -> None:
    client, app = await start({"accepted": bundle(enabled=False)})
    resp = await client.post(URL, json=sample(visitor={"phone": "+79030000005"}))
    [run] = await app[STORE].list_runs(RunFilter())
    assert (await resp.json(), run.status) == ({"result": "ok"}, "paused")
    (tmp_path / "bundles" / "accepted.yaml").write_text(bundle(), "utf-8")
    assert await reload(app[DAEMON], tmp_path)
    await settled(app)
    [run] = await app[STORE].list_runs(RunFilter())
    assert (run.status, run.ran_hash) == ("succeeded", app[DAEMON].project.bundles[0].version_hash)


async def test_an_invalid_reload_keeps_the_running_project(start: Start, tmp_path: Path) -> None:
    _, app = await start()
    before = app[DAEMON].view
    (tmp_path / "bundles" / "broken.yaml").write_text("version: 1\nname: [unclosed\n", "utf-8")
    assert not await reload(app[DAEMON], tmp_path)
    assert app[DAEMON].view is before


async def test_retriable_errors_are_retried_until_the_crm_recovers(start: Start) -> None:
    client, app = await start()
    emulator(app)[STATE].faults.status = 503
    await client.post(URL, json=sample(visitor={"phone": "+79030000006"}))
    await asyncio.sleep(0.3)
    emulator(app)[STATE].faults.status = 0
    await settled(app)
    [run] = await app[STORE].list_runs(RunFilter())
    assert (run.status, run.attempt > 1) == ("succeeded", True)


async def test_a_final_failure_is_reported_to_notify(
    tmp_path: Path, aiohttp_client: Any, aiohttp_server: Any
) -> None:
    alerts: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        alerts.append(await request.json())
        return web.json_response({})

    hook = web.Application()
    hook.router.add_post("/alert", receive)
    server = await aiohttp_server(hook)
    write(
        tmp_path,
        {"accepted": bundle()},
        extra=f"notify: {{webhook_url: '{server.make_url('/alert')}', group_wait: 0}}\n",
    )
    project, problems = load_project(tmp_path)
    assert project is not None, problems
    app = create_app(project, environ={"JIVO_SHOP_TOKEN": TOKEN}, workers=2)
    client = await aiohttp_client(app)
    emulator(app)[STATE].faults.status = 503  # never recovers: 3 attempts, then failed
    await client.post(URL, json=sample(visitor={"phone": "+79030000007"}))
    await settled(app)
    [run] = await app[STORE].list_runs(RunFilter())
    # The alert goes out after the run is marked failed: give the POST a moment to land.
    for _ in range(100):
        if alerts:
            break
        await asyncio.sleep(0.05)
    reported = [r["run_id"] for a in alerts for r in a["runs"]]
    assert (run.status, reported) == ("failed", [run.id])


async def test_alerts_reach_every_channel_and_a_recovery_is_told_once(
    tmp_path: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "WATCH_EVERY", 0.1)
    with AlertSinks(bot_token="42:token") as sinks:
        extra = (
            "notify:\n  webhook_url: ${ALERT_URL}\n  group_wait: 0\n  group_interval: 0.2\n"
            f"  email: {{host: 127.0.0.1, port: {sinks.smtp_port}, security: none,"
            " from: jivocrm@shop.example, to: [ops@shop.example]}\n"
            f"  telegram: {{bot_token: '${{TG_TOKEN}}', chat_id: '-100500',"
            f" api_url: '{sinks.telegram_url}'}}\n"
        )
        write(tmp_path, {"accepted": bundle()}, extra=extra)
        project, problems = load_project(tmp_path)
        assert project is not None, problems
        env = {"JIVO_SHOP_TOKEN": TOKEN, "ALERT_URL": sinks.webhook_url, "TG_TOKEN": "42:token"}
        app = create_app(project, environ=env, workers=2)
        client = await aiohttp_client(app)
        emulator(app)[STATE].faults.status = 503  # never recovers: 3 attempts, then failed
        await client.post(URL, json=sample(visitor={"phone": "+79030000007"}))
        await settled(app)
        emulator(app)[STATE].faults.status = 0
        await client.post(URL, json=sample(chat_id=2, visitor={"phone": "+79030000008"}))
        await settled(app)
        texts: list[str] = []
        for _ in range(200):
            texts = [m["text"] for m in sinks.telegram]
            if any("recovered" in t for t in texts) and len(sinks.mail) == len(texts):
                break
            await asyncio.sleep(0.05)
    told = [sum(word in t for t in texts) for word in ("amo is unavailable", "amo recovered")]
    assert told == [1, 1]
    assert "jivocrm runs show 1; jivocrm runs replay 1 once the cause is fixed" in "\n".join(texts)
    assert [m["Subject"] for m in sinks.mail] == [t.split("\n")[0] for t in texts]
    assert sum(len(a["runs"]) for a in sinks.webhook) == 1


async def test_health_ready_and_metrics(start: Start) -> None:
    client, app = await start()
    await client.post(URL, json={"event_name": "chat_rated"})
    health = await (await client.get("/healthz")).json()
    ready = await client.get("/readyz")
    metrics = await (await client.get("/metrics")).text()
    assert (health, ready.status) == ({"status": "ok", "instance": app[DAEMON].instance}, 200)
    # An event name outside the catalogue is counted as "other": requests add no labels.
    assert 'jivocrm_events_total{event="other",outcome="ignored"} 1.0' in metrics
