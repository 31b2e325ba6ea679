"""A store that cannot write (SQLite's "database or disk is full", the real error code, reached
through ``max_page_count``): intake answers 503 so Jivo sends again, ``/readyz`` says not ready
so a load balancer looks elsewhere, and both recover when the store can write again."""

from __future__ import annotations

import sqlite3

from test_server import URL, Start, sample, start

from jivocrm.server.app import STORE

__all__ = ["start"]


async def test_readyz_is_not_ready_while_the_store_cannot_write(start: Start) -> None:
    client, app = await start()
    assert (await client.get("/readyz")).status == 200
    db = app[STORE].db  # type: ignore[attr-defined]

    def cap(conn: sqlite3.Connection) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    await db.write(cap)
    statuses = []
    for n in range(200):  # until the free pages are used up
        answer = await client.post(URL, json=sample(chat_id=9000 + n, message="x" * 2000))
        statuses.append(answer.status)
        if answer.status != 200:
            break
    assert statuses[-1] == 503, statuses
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert "full" in (await ready.json())["store"]
    await db.write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
    assert (await client.get("/readyz")).status == 200
    assert (await client.post(URL, json=sample(chat_id=9999))).status == 200
