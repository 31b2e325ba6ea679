"""PostgreSQL: intake and end to end with two ``jivocrm serve`` instances on one database.

Setup: a fresh database is created on the server named by JIVOCRM_TEST_PG_DSN (default
postgresql://postgres@127.0.0.1:5432/test) and dropped afterwards. Two daemons run the same
project (``store: postgresql://…``) on two ports; each gets half of the load from its own load
generator. Intake is compared with the bare aiohttp handler and end to end with the
straightforward program, both measured in the same run, as in the SQLite benches.

Skipped, with a line saying why, while the PostgreSQL store does not exist or no server answers.

    python bench/pg_bench.py [--quick]
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import harness
import payloads
import projects
from e2e_bench import direct_program, one_pass
from harness import BenchError, median, note, ratio
from intake_bench import CONCURRENCY, SLOW_CRM, bare_server, emulator, jivocrm_daemon, measure

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def store_available() -> bool:
    return any(
        importlib.util.find_spec(name) is not None
        for name in ("jivocrm.store.postgres", "jivocrm.store.postgresql")
    )


def server_dsn() -> str:
    return os.environ.get("JIVOCRM_TEST_PG_DSN", DEFAULT_DSN)


@contextlib.contextmanager
def scratch_database(dsn: str) -> Iterator[str]:
    """A new empty database next to the one ``dsn`` names; dropped when the block ends."""
    import psycopg

    parts = urlsplit(dsn)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError(
            f"the benches only use a PostgreSQL server on loopback, not {parts.hostname}"
        )
    name = f"jivocrm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def why_skipped() -> str | None:
    if not store_available():
        return "no PostgreSQL store yet"
    try:
        import psycopg

        with psycopg.connect(server_dsn(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to connect means: nothing to measure against
        return f"no PostgreSQL server at {server_dsn()} ({type(exc).__name__})"
    return None


@contextlib.contextmanager
def two_daemons(
    crm_url: str, dsn: str, **options: Any
) -> Iterator[list[tuple[harness.Server, str]]]:
    with contextlib.ExitStack() as stack:
        targets = []
        for _ in range(2):
            project = projects.write_project(
                port=harness.free_port(),
                crm_url=crm_url,
                store="${JIVOCRM_BENCH_PG_DSN}",
                **options,
            )
            project.env["JIVOCRM_BENCH_PG_DSN"] = dsn
            targets.append((stack.enter_context(jivocrm_daemon(project)), project.webhook_path))
        yield targets


def intake(dsn: str, template: Path, repeats: int, duration: float) -> dict[str, Any]:
    bare, ours = [], []
    counter = 5_000_000
    with (
        bare_server() as b,
        emulator(latency=SLOW_CRM) as emu,
        two_daemons(emu.url, dsn, timeout=SLOW_CRM * 2) as targets,
    ):
        opts = {"duration": duration, "warmup": 1}
        for i in range(repeats):
            bare.append(
                measure(b, "/jivo/bench", template, counter, concurrency=CONCURRENCY, **opts)
            )
            counter = bare[-1]["next"]
            with ThreadPoolExecutor(2) as pool:
                futures = [
                    pool.submit(
                        measure,
                        server,
                        path,
                        template,
                        counter + k * 1_000_000,
                        concurrency=CONCURRENCY // 2,
                        **opts,
                    )
                    for k, (server, path) in enumerate(targets)
                ]
                pair = [f.result() for f in futures]
            counter += 2_000_000
            ours.append(
                {
                    "cpu_us_per_req": sum(r["server_cpu_us_per_req"] * r["sent"] for r in pair)
                    / max(1, sum(r["sent"] for r in pair)),
                    "rps": sum(r["rps"] for r in pair),
                    "p50_ms": max(r["p50_ms"] for r in pair),
                    "p99_ms": max(r["p99_ms"] for r in pair),
                }
            )
            note(
                f"intake repeat {i + 1}/{repeats}: bare {bare[-1]['rps']:.0f}/s, "
                f"two instances {ours[-1]['rps']:.0f}/s"
            )
    out = {
        "bare_rps": median([r["rps"] for r in bare]),
        "bare_cpu_us_per_req": median([r["server_cpu_us_per_req"] for r in bare]),
        "cpu_us_per_req": round(median([r["cpu_us_per_req"] for r in ours])),
        "rps": median([r["rps"] for r in ours]),
        "p50_ms": median([r["p50_ms"] for r in ours]),
        "p99_ms": median([r["p99_ms"] for r in ours]),
    }
    out["ratio"] = ratio(out["rps"], out["bare_rps"])
    return out


def end_to_end(dsn: str, template: Path, repeats: int, n: int) -> dict[str, Any]:
    base, ours = [], []
    counter = 9_000_000
    with emulator() as emu, direct_program(emu.url) as prog, two_daemons(emu.url, dsn) as targets:
        one_pass([(prog, "/jivo/bench")], emu, template, 10, 20, 120)
        one_pass(targets, emu, template, 100, 20, 120)
        for i in range(repeats):
            base.append(one_pass([(prog, "/jivo/bench")], emu, template, counter, n, 120))
            counter += n
            ours.append(one_pass(targets, emu, template, counter, n, 120))
            counter += n
            note(
                f"e2e repeat {i + 1}/{repeats}: program {base[-1]['runs_per_s']:.0f} runs/s, "
                f"two instances {ours[-1]['runs_per_s']:.0f} runs/s"
            )
    out = {
        "program_runs_per_s": median([p["runs_per_s"] for p in base]),
        "runs_per_s": median([p["runs_per_s"] for p in ours]),
        "cpu_ms_per_run": median([p["cpu_ms_per_run"] for p in ours]),
        "program_cpu_ms_per_run": median([p["cpu_ms_per_run"] for p in base]),
        "completed": sum(p["completed"] for p in ours),
        "events": sum(p["events"] for p in ours),
    }
    out["ratio"] = ratio(out["runs_per_s"], out["program_runs_per_s"])
    return out


def run(quick: bool = False) -> dict[str, Any]:
    reason = why_skipped()
    if reason:
        print(f"\nPostgreSQL\n  skipped: {reason}", flush=True)
        return {"skipped": reason}
    template = payloads.write_template(harness.scratch("body") / "chat_finished.json")
    with scratch_database(server_dsn()) as dsn:
        out = {
            "intake": intake(dsn, template, 2 if quick else 3, 3.0 if quick else 5.0),
        }
    with scratch_database(server_dsn()) as dsn:
        out["e2e"] = end_to_end(dsn, template, 2 if quick else 3, 200 if quick else 400)
    report(out)
    return out


def report(out: dict[str, Any]) -> None:
    i, e = out["intake"], out["e2e"]
    harness.print_table(
        "PostgreSQL store, two jivocrm serve instances on one database (median of repeats)",
        [
            ["intake req/s", i["rps"], "bare handler", i["bare_rps"], f"{i['ratio']:.2f}"],
            [
                "intake CPU µs/request",
                i["cpu_us_per_req"],
                "bare handler",
                i["bare_cpu_us_per_req"],
                f"{ratio(i['cpu_us_per_req'], i['bare_cpu_us_per_req']):.2f}",
            ],
            ["intake p99 ms (full load)", i["p99_ms"], "", "", ""],
            [
                "end-to-end runs/s",
                e["runs_per_s"],
                "program",
                e["program_runs_per_s"],
                f"{e['ratio']:.2f}",
            ],
            [
                "CPU ms per run (both)",
                e["cpu_ms_per_run"],
                "program",
                e["program_cpu_ms_per_run"],
                "",
            ],
        ],
        ["figure", "jivocrm ×2", "baseline", "baseline value", "ratio"],
    )
    note(f"runs completed {e['completed']}/{e['events']}")


def main() -> None:
    harness.bench_main(__doc__, run, "PostgreSQL", "fewer and shorter repeats")


if __name__ == "__main__":
    main()
