"""HTTP load generator for the benches, run as its own process so it never shares a core's event
loop with the server under test.

    python bench/loadgen.py --url http://127.0.0.1:8080/jivo/TOKEN --template body.tpl \\
        --concurrency 64 --duration 5 [--rate 800] [--warmup 1] [--requests 20000]

Modes: fixed concurrency (each of ``--concurrency`` workers sends its next request as soon as the
last one is answered) or fixed rate (``--rate`` requests/s on a schedule; a request's latency is
counted from its scheduled start, so a server that falls behind cannot hide its queue — the
"coordinated omission" trap). Every ``__N__`` in the template is replaced by a running number from
``--start``, so each body is unique (distinct chat ids, phones, e-mails).

Prints one JSON object: counts by status, requests/s, latency percentiles (ms) and the generator's
own CPU time, which tells whether the generator itself was the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

MARK = b"__N__"
# Hard bounds whatever the arguments say: no run may go on for ever.
MAX_DURATION = 600.0
MAX_REQUESTS = 2_000_000


@dataclass
class Tally:
    started: float = 0.0  # after warm-up: only answers to requests started later count
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    ok_total: int = 0  # 2xx answers including the warm-up's

    def record(self, began: float, status: str) -> None:
        if status.startswith("2"):
            self.ok_total += 1
        if began >= self.started:
            self.latencies.append(time.perf_counter() - began)
            self.statuses[status] += 1


class Bodies:
    """Unique request bodies from a template, ``__N__`` replaced by a counter."""

    def __init__(self, template: bytes, start: int) -> None:
        self.parts = template.split(MARK)
        self.next = start

    def take(self) -> bytes:
        n = str(self.next).encode()
        self.next += 1
        return n.join(self.parts)


class AiohttpClient:
    """aiohttp's client: the reference, but its per-request cost can make the generator the
    bottleneck on a 2-core machine."""

    def __init__(self, url: str, concurrency: int, timeout: float) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"Content-Type": "application/json"},
        )

    async def post(self, body: bytes) -> str:
        try:
            async with self.session.post(self.url, data=body) as response:
                await response.read()
                return str(response.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return type(exc).__name__

    async def close(self) -> None:
        await self.session.close()


class RawClient:
    """Keep-alive HTTP/1.1 over asyncio streams, a pool of ``concurrency`` connections: about a
    third of aiohttp's client CPU per request, which leaves the server its core. It reads only
    what the servers under test send (``Content-Length`` bodies)."""

    def __init__(self, url: str, concurrency: int, timeout: float) -> None:
        parsed = urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.head = (
            f"POST {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self.timeout = timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(concurrency)

    async def post(self, body: bytes) -> str:
        async with self.slots:
            conn = self.idle.pop() if self.idle else None
            try:
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                reader, writer = conn
                writer.write(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
                status, keep = await asyncio.wait_for(self._answer(reader), self.timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if conn is not None:
                    conn[1].close()
                return type(exc).__name__
            if keep:
                self.idle.append(conn)
            else:
                writer.close()
            return status

    @staticmethod
    async def _answer(reader: asyncio.StreamReader) -> tuple[str, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)[1]
        length, keep = 0, True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                keep = False
            elif name == "transfer-encoding":
                raise ValueError("chunked answers are not supported")
        await reader.readexactly(length)
        return status, keep

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


Client = AiohttpClient | RawClient


async def _send(client: Client, body: bytes, tally: Tally, began: float) -> None:
    tally.record(began, await client.post(body))


async def closed_loop(
    client: Client,
    bodies: Bodies,
    tally: Tally,
    concurrency: int,
    deadline: float,
    limit: int,
) -> None:
    async def worker() -> None:
        while time.perf_counter() < deadline and tally.sent < limit:
            tally.sent += 1
            await _send(client, bodies.take(), tally, time.perf_counter())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def open_loop(
    client: Client,
    bodies: Bodies,
    tally: Tally,
    rate: float,
    concurrency: int,
    deadline: float,
    limit: int,
) -> None:
    """Request i is due at t0 + i/rate. At most ``concurrency`` are in flight; a due request
    waiting for a free slot still has its latency counted from when it was due."""
    slots = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()
    t0 = time.perf_counter()
    i = 0
    while i < limit:
        due = t0 + i / rate
        if due >= deadline:
            break
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        await slots.acquire()
        tally.sent += 1
        task = asyncio.create_task(_send(client, bodies.take(), tally, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        task.add_done_callback(lambda _: slots.release())
        i += 1
    if pending:
        await asyncio.wait(pending, timeout=30)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def main_async(args: argparse.Namespace, template: bytes) -> dict[str, object]:
    bodies = Bodies(template, args.start)
    duration = min(args.duration, MAX_DURATION)
    limit = min(args.requests or MAX_REQUESTS, MAX_REQUESTS)
    tally = Tally()
    kind = AiohttpClient if args.client == "aiohttp" else RawClient
    cpu0 = time.process_time()
    client = kind(args.url, args.concurrency, args.timeout)
    try:
        started_at = time.time()  # wall clock, comparable with other processes' readings
        start = time.perf_counter()
        tally.started = start + args.warmup
        deadline = start + args.warmup + duration
        if args.rate:
            await open_loop(client, bodies, tally, args.rate, args.concurrency, deadline, limit)
        else:
            await closed_loop(client, bodies, tally, args.concurrency, deadline, limit)
        # The measured window: from the end of warm-up to the last answer.
        window = max(1e-9, time.perf_counter() - tally.started)
    finally:
        await client.close()
    cpu = time.process_time() - cpu0
    lat = sorted(tally.latencies)
    ok = sum(n for status, n in tally.statuses.items() if status.startswith("2"))
    return {
        "mode": "rate" if args.rate else "concurrency",
        "client": args.client,
        "target_rate": args.rate or None,
        "concurrency": args.concurrency,
        "sent": tally.sent,
        "answered": len(lat),
        "ok": ok,
        "ok_total": tally.ok_total,
        "statuses": dict(tally.statuses),
        "seconds": round(window, 3),
        "rps": round(ok / window, 1),
        "p50_ms": round(percentile(lat, 0.50) * 1000, 2),
        "p90_ms": round(percentile(lat, 0.90) * 1000, 2),
        "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
        "max_ms": round((lat[-1] if lat else float("nan")) * 1000, 2),
        "loadgen_cpu_s": round(cpu, 3),
        "started_at": started_at,
        "next": bodies.next,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--template", required=True, help="body file; __N__ becomes a counter")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds sent but not counted")
    p.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = closed loop")
    p.add_argument("--requests", type=int, default=0, help="stop after this many; 0 = no cap")
    p.add_argument("--start", type=int, default=1_000_000, help="first value of __N__")
    p.add_argument("--client", choices=["raw", "aiohttp"], default="raw")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    args = p.parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        p.error("the load generator only talks to loopback addresses")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = asyncio.run(main_async(args, Path(args.template).read_bytes()))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
