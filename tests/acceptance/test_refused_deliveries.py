"""Nothing vanishes silently: through ``jivocrm serve``, a refused delivery of each kind shows in
the CLI with its reason and what to change, and a flood of malformed requests stays small."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from journal_world import TOKEN, World, journal_world, sample

FLOOD = 10_000
FLOOD_LIMIT = 1024 * 1024  # bytes: the journal after the flood, file and write-ahead log


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, dict[int, Any]]]:
    """One refused delivery of each kind, and one request with an unknown token."""
    with journal_world(tmp_path_factory.mktemp("refused")) as w:
        # A body has a second to arrive here, so the slow one below is refused quickly.
        path = w.root / "jivocrm.yaml"
        text = path.read_text("utf-8")
        path.write_text(text.replace("reply_timeout: 0.5}", "reply_timeout: 0.5, body_timeout: 1}"))
        w.stop()
        w.start()
        post = f"{w.url}/jivo/{TOKEN}"
        cases = [
            (b'{"event_name":', "application/json"),  # 400
            (json.dumps(sample(widget_id="Qq1Ww2Ee3R")).encode(), "application/json"),  # 403
            (b" " * (1024 * 1024 + 10) + b"{}", "application/json"),  # 413
        ]
        for body, content_type in cases:
            send(post, body, content_type)
        assert trickle(w.port) == 408
        send(f"{w.url}/jivo/an-old-token", b"{}", "application/json")
        # The store cannot take the next event (a real SQLite error, raised by a trigger):
        with contextlib.closing(sqlite3.connect(w.db)) as conn, conn:
            conn.execute(
                "CREATE TRIGGER full BEFORE INSERT ON events"
                " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        send(post, json.dumps(sample(chat_id=77)).encode(), "application/json")
        with contextlib.closing(sqlite3.connect(w.db)) as conn, conn:
            conn.execute("DROP TRIGGER full")
        listed = wait_for_refusals(w, 5)
        yield w, {r["status"]: r for r in listed["refused"]}


def trickle(port: int) -> int:
    """A request whose body never arrives whole: the status of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        head = f"POST /jivo/{TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        conn.sendall(head.encode() + b'{"event_name": ')
        answer = conn.recv(4096).decode("latin-1")
    return int(answer.split(" ", 2)[1])


def send(url: str, body: bytes, content_type: str) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_for_refusals(w: World, count: int) -> Any:
    deadline = time.monotonic() + 20
    while True:
        listed = w.json("events", "list", "--refused")
        if len(listed["refused"]) >= count and listed["unknown_tokens"]:
            return listed
        assert time.monotonic() < deadline, listed
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "the body is not JSON"),
        (403, "widget_id Qq1Ww2Ee3R is not the widget of channel shop"),
        (413, "over server.body_limit"),
        (408, "took over 1 s to arrive"),
        (503, "the store could not take it"),
    ],
)
def test_each_refused_delivery_is_listed_with_its_reason(
    refused: tuple[World, dict[int, Any]], status: int, reason: str
) -> None:
    _, by_status = refused
    assert reason in by_status[status]["reason"]


def test_an_unknown_token_is_counted_by_remote_address_without_a_body(
    refused: tuple[World, dict[int, Any]],
) -> None:
    w, _ = refused
    (unknown,) = w.json("events", "list", "--refused")["unknown_tokens"]
    assert (unknown["remote"], unknown["requests"]) == ("127.0.0.1", 1)


def test_explain_of_a_refused_delivery_says_what_to_change(
    refused: tuple[World, dict[int, Any]],
) -> None:
    w, by_status = refused
    text = w.cli("events", "explain", "--refused", str(by_status[403]["id"])).stdout
    assert "refused delivery" in text
    assert "403" in text
    assert "paste that channel's URL there" in text


def test_what_to_change_in_russian(refused: tuple[World, dict[int, Any]]) -> None:
    w, by_status = refused
    text = w.cli("events", "explain", "--refused", str(by_status[403]["id"]), "--lang", "ru").stdout
    said = " ".join(text.split())
    assert "что изменить: Событие пришло из другого канала Jivo, а не из «shop»" in said
    listed = w.cli("events", "list", "--refused", "--lang", "ru").stdout
    assert "`jivocrm events explain --refused ID` подскажет, что изменить" in listed


def test_the_refused_event_is_kept_as_an_excerpt(refused: tuple[World, dict[int, Any]]) -> None:
    _, by_status = refused
    assert '"widget_id": "Qq1Ww2Ee3R"' in by_status[403]["excerpt"]
    assert by_status[413]["excerpt"] == ""  # never read: it was over the limit


def test_channels_counts_the_refused_deliveries(refused: tuple[World, dict[int, Any]]) -> None:
    w, _ = refused
    shop = {c["channel"]: c for c in w.json("channels")["channels"]}["shop"]
    assert (shop["refused"], shop["last_refusal"]["status"]) == (5, 503)


def test_the_event_after_the_store_recovered_is_accepted(
    refused: tuple[World, dict[int, Any]],
) -> None:
    w, _ = refused
    body = json.dumps(sample(chat_id=78)).encode()
    assert send(f"{w.url}/jivo/{TOKEN}", body, "application/json") == 200
    assert len(w.json("events", "list", "--chat", "78")) == 1


def journal_bytes(root: Path) -> int:
    files = [root / ".jivocrm" / name for name in ("jivocrm.db", "jivocrm.db-wal")]
    return sum(f.stat().st_size for f in files if f.exists())


def test_a_flood_of_10000_malformed_requests_leaves_the_journal_under_1_mib(
    tmp_path: Path,
) -> None:
    with journal_world(tmp_path / "flood") as w:

        async def flood() -> list[int]:
            gate = asyncio.Semaphore(50)
            async with aiohttp.ClientSession() as session:

                async def one(n: int) -> int:
                    body = b'{"event_name": "chat_finished", "chat_id": ' + str(n).encode()
                    headers = {"Content-Type": "application/json"}
                    url = f"{w.url}/jivo/{TOKEN}"
                    async with gate, session.post(url, data=body, headers=headers) as answer:
                        return answer.status

                return await asyncio.gather(*(one(n) for n in range(FLOOD)))

        assert set(asyncio.run(flood())) == {400}
        deadline = time.monotonic() + 30
        while w.json("channels")["channels"][0]["refused"] < FLOOD:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        size = journal_bytes(w.root)
        kept = len(w.json("events", "list", "--refused", "--limit", "100000")["refused"])
    print(f"journal after the flood: {size} bytes, {kept} refusals kept in detail")
    assert size < FLOOD_LIMIT, f"{size} bytes"
    assert 0 < kept < FLOOD // 10  # the rest counted, not kept


def test_each_refused_delivery_is_on_the_page_with_its_reason(
    refused: tuple[World, dict[int, Any]],
) -> None:
    import html
    import urllib.request

    w, by_status = refused
    with urllib.request.urlopen(f"{w.url}/ui/refused", timeout=10) as answer:
        page = html.unescape(answer.read().decode())
    for row in by_status.values():
        assert row["reason"][:160] in page
    with urllib.request.urlopen(f"{w.url}/ui/refused/{by_status[413]['id']}", timeout=10) as one:
        assert "raise server.body_limit" in html.unescape(one.read().decode())


def explain_in(w: World, refusal_id: int, language: str, *args: str) -> str:
    import subprocess
    import sys

    env = {**w.env, "LANG": language, "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
    command = [sys.executable, "-m", "jivocrm", "events", "explain", "--refused", str(refusal_id)]
    done = subprocess.run(
        [*command, *args, "--project", str(w.root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("status", "reason", "advice"),
    [
        (400, "причина: тело запроса — не JSON: ", "Тело запроса — не событие Jivo"),
        (403, "причина: widget_id Qq1Ww2Ee3R — не виджет канала shop", "из другого канала Jivo"),
        (413, "причина: тело запроса больше server.body_limit (", "увеличьте server.body_limit"),
        (408, "причина: тело запроса шло дольше 1 с", "медленное или оборванное соединение"),
        (503, "причина: хранилище не смогло его принять: ", "проверьте диск и базу данных"),
    ],
)
def test_a_refused_delivery_is_explained_in_russian(
    refused: tuple[World, dict[int, Any]], status: int, reason: str, advice: str
) -> None:
    w, by_status = refused
    text = explain_in(w, by_status[status]["id"], "ru_RU.UTF-8")
    assert text.startswith(f"отклонённая доставка {by_status[status]['id']}: {status} · канал shop")
    assert reason in text
    assert f"что изменить: {advice}" in text or advice in text.split("что изменить: ", 1)[1]


def test_explain_refused_json_is_the_same_in_every_language(
    refused: tuple[World, dict[int, Any]],
) -> None:
    w, by_status = refused
    refusal_id = by_status[403]["id"]
    russian = explain_in(w, refusal_id, "ru_RU.UTF-8", "--format", "json")
    assert russian == explain_in(w, refusal_id, "C.UTF-8", "--format", "json")
    assert json.loads(russian)["advice"].startswith("The event came from another Jivo channel")
