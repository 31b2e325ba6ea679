"""Group commit keeps its promise across a killed process: every acknowledged write is stored."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

WRITER = textwrap.dedent(
    """
    import asyncio, hashlib, sys, time
    from pathlib import Path
    from jivocrm.store.base import NewEvent, NewRun
    from jivocrm.store.sqlite import SQLiteStore

    async def one(store, n):
        body = f'{{"n": {n}}}'.encode()
        ev = NewEvent("shop", "chat_finished", hashlib.sha256(body).hexdigest(), body,
                      time.time(), runs=(NewRun("b", f"L{n % 7}", "v1"),))
        accepted = await store.accept(ev)
        print(accepted.event_id, flush=True)  # the acknowledgement

    async def main():
        store = SQLiteStore(Path(sys.argv[1]))
        await store.open()
        n = 0
        while True:  # until killed: bursts of concurrent writers share commits
            await asyncio.gather(*(one(store, n + i) for i in range(32)))
            n += 32

    asyncio.run(main())
    """
)


def test_every_acknowledged_event_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    acked = []
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.strip().isdigit():
                continue  # a log line
            acked.append(int(line))
            if len(acked) >= 500:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # A line cut by the kill is no acknowledgement: only whole lines count.
        rest = proc.stdout.read()
    acked += [int(x) for x in rest.split("\n")[:-1] if x.strip().isdigit()]
    with contextlib.closing(sqlite3.connect(db)) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM events")}
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert set(acked) <= stored
    assert runs == len(stored)  # no event without its run: one transaction each
