"""The journal pages against hostile and unlucky clients: foreign host names (DNS rebinding),
``Origin: null``, tokens of another session, expired and logged-out sessions, guessed logins,
cookies behind a TLS proxy, and input that once answered 500 (a non-ASCII token, an id past 64
bits, a payload whose visitor has no name or is text)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from journal_pages_kit import BUNDLE, TOKEN
from test_journal_ui_access import PROXIED

from jivocrm.engine.project import load_project
from jivocrm.server.ui import Journal, setup_ui
from jivocrm.server.ui_access import COOKIE, SESSION_LIFETIME, Access
from jivocrm.store.base import NewEvent, NewRun
from jivocrm.store.sqlite import SQLiteStore

BODIES = [
    b'{"event_name": "chat_finished", "visitor": {"phone": "+79030000001"}}',  # no name
    '{"event_name": "chat_finished", "visitor": "Ира"}'.encode(),  # a visitor as text
    b'["not", "an", "object"]',
]

Client = TestClient[Any, Any]
Make = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
) -> AsyncIterator[Make]:
    stores: list[SQLiteStore] = []

    async def go(server: str = "", token: str | None = TOKEN) -> Client:
        (tmp_path / "bundles").mkdir(exist_ok=True)
        project_text = "version: 1\nbundles: bundles/\n" + (f"server: {server}\n" if server else "")
        (tmp_path / "jivocrm.yaml").write_text(project_text, "utf-8")
        (tmp_path / "bundles" / "b.yaml").write_text(BUNDLE, "utf-8")
        project, problems = load_project(tmp_path)
        assert project is not None, problems
        store = SQLiteStore(tmp_path / f"journal{len(stores)}.db")
        await store.open()
        stores.append(store)
        bundle = project.bundles[0]
        for n, body in enumerate(BODIES):
            run = NewRun(bundle.name, f"lane{n}", bundle.version_hash)
            await store.accept(NewEvent("shop", "chat_finished", f"k{n}", body, 1.0, runs=(run,)))
        for claimed in await store.claim("test", now=2.0, lease=60, limit=10):
            await store.finish_run(claimed.id, "test", status="failed", ran_hash=None, error="x")
        app = web.Application()
        environ = {"JIVOCRM_ADMIN_TOKEN": token} if token else {}
        setup_ui(app, lambda _app: Journal(store, project), environ=environ)
        return await aiohttp_client(app)

    yield go
    for store in stores:
        await store.close()


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


async def test_a_foreign_host_name_is_refused(make: Make) -> None:
    client = await make()
    answer = await client.get("/ui/runs", headers={"Host": "attacker.example"})
    assert answer.status == 421
    assert "server.allowed_hosts" in await answer.text()


async def test_the_public_host_and_allowed_hosts_are_served(make: Make) -> None:
    client = await make("{public_url: 'https://jivo.example.com', allowed_hosts: [crm.lan]}")
    for host in ("jivo.example.com", "crm.lan:8080", "localhost:8080", "[::1]:8080"):
        answer = await client.get("/ui/runs", headers={"Host": host})
        assert answer.status == 200, host


async def test_origin_null_is_refused(make: Make) -> None:
    client = await make()
    token = csrf(await (await client.get("/ui/runs/1")).text())
    answer = await client.post(
        "/ui/runs/1/replay", data={"csrf": token}, headers={"Origin": "null"}
    )
    assert answer.status == 403


async def test_a_csrf_token_belongs_to_its_session(make: Make) -> None:
    client = await make()
    mine = csrf(await (await client.get("/ui/runs/1")).text())
    client.session.cookie_jar.clear()
    answer = await client.post("/ui/runs/1/replay", data={"csrf": mine}, allow_redirects=False)
    assert answer.status == 403  # a new visitor's session has a token of its own
    theirs = csrf(await (await client.get("/ui/runs/1")).text())
    assert theirs != mine
    answer = await client.post("/ui/runs/1/replay", data={"csrf": theirs}, allow_redirects=False)
    assert answer.status == 303


async def test_logout_ends_the_session(make: Make) -> None:
    client = await make()
    await client.post("/ui/login", data={"token": TOKEN, "next": "/ui/runs"})
    page = await client.get("/ui/runs", headers=PROXIED)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/ui"))[COOKIE].value
    answer = await client.post(
        "/ui/logout", data={"csrf": csrf(await page.text())}, headers=PROXIED,
        allow_redirects=False,
    )  # fmt: skip
    assert (answer.status, answer.headers["Location"]) == (303, "/ui/login")
    again = await client.get(
        "/ui/runs", headers={**PROXIED, "Cookie": f"{COOKIE}={cookie}"}, allow_redirects=False
    )
    assert again.status == 303  # back to the login form: the old cookie opens nothing


async def test_the_session_cookie_expires(make: Make) -> None:
    client = await make()
    answer = await client.post(
        "/ui/login", data={"token": TOKEN, "next": "/ui/runs"}, allow_redirects=False
    )
    assert f"Max-Age={int(SESSION_LIFETIME)}" in answer.headers["Set-Cookie"]


def test_a_session_older_than_its_lifetime_is_refused() -> None:
    now = [1_000_000.0]
    access = Access({"JIVOCRM_ADMIN_TOKEN": TOKEN}, clock=lambda: now[0])
    session = access.issue(admin=True)
    assert session.cookie is not None
    assert access.read(session.cookie) is not None
    now[0] += SESSION_LIFETIME + 1
    assert access.read(session.cookie) is None


def test_a_changed_admin_token_ends_every_session() -> None:
    environ = {"JIVOCRM_ADMIN_TOKEN": TOKEN}
    access = Access(environ)
    cookie = access.issue(admin=True).cookie
    assert cookie is not None
    environ["JIVOCRM_ADMIN_TOKEN"] = "another-token-9876543210"
    assert access.read(cookie) is None


@pytest.mark.parametrize(
    ("server", "headers", "secure"),
    [
        ("", {}, False),
        ("{public_url: 'https://jivo.example.com'}", PROXIED, True),
        ("{trusted_proxies: [127.0.0.0/8]}", {**PROXIED, "X-Forwarded-Proto": "https"}, True),
        ("{trusted_proxies: [10.0.0.0/8]}", {**PROXIED, "X-Forwarded-Proto": "https"}, False),
    ],
    ids=["plain", "https public_url", "trusted proxy", "untrusted proxy"],
)
async def test_cookies_are_secure_behind_tls(
    make: Make, server: str, headers: dict[str, str], secure: bool
) -> None:
    client = await make(server)
    answer = await client.post(
        "/ui/login", data={"token": TOKEN, "next": "/ui/runs"}, headers=headers,
        allow_redirects=False,
    )  # fmt: skip
    assert ("Secure" in answer.headers["Set-Cookie"]) == secure


async def test_guessed_logins_are_slowed_down(make: Make) -> None:
    client = await make()
    statuses = [
        (await client.post("/ui/login", data={"token": f"guess{n}"}, headers=PROXIED)).status
        for n in range(7)
    ]
    assert statuses == [401] * 5 + [429] * 2
    answer = await client.post("/ui/login", data={"token": TOKEN}, headers=PROXIED)
    assert answer.status == 429  # even the right token waits out the window
    assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/ui/login", {"data": {"token": "тайный-токен"}}),
        ("GET", "/ui/runs", {"headers": {**PROXIED, "Authorization": "Bearer тайна"}}),
        ("GET", "/ui/runs", {"headers": {**PROXIED, "Cookie": f"{COOKIE}=ü.1.1.x"}}),
        ("GET", f"/ui/runs/{2**64}", {}),
        ("GET", f"/ui/events/{2**64}", {}),
        ("GET", "/ui/runs/-1", {}),
        ("GET", "/ui/runs?offset=99999999999999999999999", {}),
        ("POST", f"/ui/runs/{2**64}/replay", {"data": {"csrf": "x"}}),
    ],
)
async def test_malformed_input_is_a_4xx(
    make: Make, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    client = await make()
    answer = await client.request(method, path, allow_redirects=False, **kwargs)
    assert answer.status < 500
    assert answer.status != 200 or path.startswith("/ui/runs?")


@pytest.mark.parametrize("run_id", [1, 2, 3])
async def test_every_stored_run_has_a_page(make: Make, run_id: int) -> None:
    client = await make()
    run = await client.get(f"/ui/runs/{run_id}")
    event = await client.get(f"/ui/events/{run_id}")
    assert (run.status, event.status) == (200, 200)
