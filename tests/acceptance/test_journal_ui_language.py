"""Which language the journal pages speak: the ``lang`` cookie the switch sets, else the browser's
Accept-Language, else English — and the switch keeps the access rules (host, Origin, only pages of
this site to go back to). The pages read a real SQLite journal through ``setup_ui``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from journal_pages_kit import Client, journal_pages

RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}


@pytest.fixture
async def client(tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    return await journal_pages(tmp_path, aiohttp_client)


def heading(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html, re.DOTALL)
    assert found is not None
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def choose(client: Client, lang: str, next_page: str, **headers: str) -> Any:
    return client.post(
        "/ui/language",
        data={"lang": lang, "next": next_page},
        headers=headers,
        allow_redirects=False,
    )


async def test_english_without_a_wish(client: Client) -> None:
    html = await (await client.get("/ui/runs")).text()
    assert ('<html lang="en">' in html, heading(html)) == (True, "Runs")


async def test_accept_language_ru_gives_russian_pages(client: Client) -> None:
    html = await (await client.get("/ui/runs/1", headers=RU)).text()
    assert '<html lang="ru">' in html
    assert heading(html).startswith("Запуск 1 · Заявка")
    assert '<span class="status failed">ошибка</span>' in html


async def test_the_filter_keeps_english_values_under_russian_labels(client: Client) -> None:
    html = await (await client.get("/ui/runs", headers=RU)).text()
    assert '<option value="failed">ошибка</option>' in html
    filtered = await client.get("/ui/runs", params={"status": "failed"}, headers=RU)
    assert "Заявка" in await filtered.text()


async def test_the_switch_sets_a_cookie_that_beats_accept_language(client: Client) -> None:
    await client.get("/ui/runs")  # the loopback session's cookie
    answer = await choose(client, "en", "/ui/runs?status=failed")
    assert (answer.status, answer.headers["Location"]) == (303, "/ui/runs?status=failed")
    assert "lang=en" in answer.headers["Set-Cookie"]
    html = await (await client.get("/ui/runs", headers=RU)).text()
    assert heading(html) == "Runs"
    await choose(client, "ru", "/ui/runs")
    assert heading(await (await client.get("/ui/runs")).text()) == "Запуски"


async def test_the_switch_sends_back_only_to_a_page_of_the_journal(client: Client) -> None:
    for elsewhere in ("https://evil.example/", "//evil.example/ui", "/metrics"):
        answer = await choose(client, "ru", elsewhere)
        assert (answer.status, answer.headers["Location"]) == (303, "/ui/runs")


async def test_the_switch_refuses_a_form_from_another_site(client: Client) -> None:
    answer = await choose(client, "ru", "/ui/runs", Origin="https://evil.example")
    assert answer.status == 403


async def test_the_switch_works_on_the_sign_in_page_of_a_remote_visitor(client: Client) -> None:
    remote = {"X-Forwarded-For": "203.0.113.7"}
    login = await client.get("/ui/login", headers={**remote, **RU})
    assert heading(await login.text()) == "Вход в журнал"
    answer = await choose(client, "en", "/ui/login", **remote)
    assert (answer.status, answer.headers["Location"]) == (303, "/ui/login")
    runs = await client.get("/ui/runs", headers=remote, allow_redirects=False)
    assert runs.status == 303  # still has to sign in: the switch opened nothing else


async def test_the_access_rules_answer_in_the_readers_language(client: Client) -> None:
    await client.get("/ui/runs")  # the loopback session's cookie
    for headers, said in (
        (RU, "токен формы устарел или отсутствует: обновите страницу"),
        ({}, "stale or missing form token: reload the page"),
    ):
        answer = await client.post("/ui/runs/1/replay", data={"csrf": "0" * 64}, headers=headers)
        assert (answer.status, await answer.text()) == (403, said)
    wrong_host = await client.get("/ui/runs", headers={**RU, "Host": "attacker.example"})
    assert (await wrong_host.text()).startswith("это имя хоста не принадлежит демону")
