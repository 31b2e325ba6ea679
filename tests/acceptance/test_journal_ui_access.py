"""Who may open the journal pages and replay: loopback clients, or the admin token; a replay
needs the page's CSRF token. The pages read a real SQLite journal through ``setup_ui``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from journal_pages_kit import TOKEN, Client, journal_pages

PROXIED = {"X-Forwarded-For": "203.0.113.7"}  # as a reverse proxy on this host would send


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    return await journal_pages(tmp_path, aiohttp_client)


async def csrf_of(client: Client) -> str:
    html = await (await client.get("/ui/runs/1")).text()
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


async def test_loopback_client_reads_the_runs(client: Client) -> None:
    answer = await client.get("/ui/runs")
    assert (answer.status, "Заявка" in await answer.text()) == (200, True)


async def test_a_proxied_client_is_sent_to_the_login_form(client: Client) -> None:
    answer = await client.get("/ui/runs", headers=PROXIED, allow_redirects=False)
    assert (answer.status, answer.headers["Location"]) == (303, "/ui/login?next=/ui/runs")


async def test_the_admin_token_in_a_header_opens_the_pages(client: Client) -> None:
    headers = {**PROXIED, "Authorization": f"Bearer {TOKEN}"}
    assert (await client.get("/ui/runs", headers=headers)).status == 200


async def test_a_wrong_login_is_refused(client: Client) -> None:
    answer = await client.post("/ui/login", data={"token": "guess", "next": "/ui/runs"})
    assert answer.status == 401


async def test_login_sets_a_cookie_that_opens_the_pages(client: Client) -> None:
    await client.post("/ui/login", data={"token": TOKEN, "next": "/ui/runs"})
    assert (await client.get("/ui/runs", headers=PROXIED)).status == 200


async def test_the_cookie_does_not_carry_the_token(client: Client) -> None:
    answer = await client.post(
        "/ui/login", data={"token": TOKEN, "next": "/ui/runs"}, allow_redirects=False
    )
    assert TOKEN not in answer.headers["Set-Cookie"]


async def test_login_never_redirects_off_the_site(client: Client) -> None:
    answer = await client.post(
        "/ui/login", data={"token": TOKEN, "next": "https://evil.example/"}, allow_redirects=False
    )
    assert answer.headers["Location"] == "/ui/runs"


async def test_replay_without_the_csrf_token_is_refused(client: Client) -> None:
    assert (await client.post("/ui/runs/1/replay", data={})).status == 403


async def test_replay_from_another_origin_is_refused(client: Client) -> None:
    data = {"csrf": await csrf_of(client)}
    headers = {"Origin": "https://evil.example"}
    assert (await client.post("/ui/runs/1/replay", data=data, headers=headers)).status == 403


async def test_replay_queues_a_run_linked_to_the_original(client: Client) -> None:
    data = {"csrf": await csrf_of(client)}
    answer = await client.post("/ui/runs/1/replay", data=data, allow_redirects=False)
    assert (answer.status, answer.headers["Location"]) == (303, "/ui/runs/2")


async def test_an_unreadable_filter_says_why(client: Client) -> None:
    answer = await client.get("/ui/runs", params={"since": "yesterday"})
    assert (answer.status, "neither a duration" in await answer.text()) == (400, True)


async def test_an_unknown_run_is_404(client: Client) -> None:
    assert (await client.get("/ui/runs/999")).status == 404
