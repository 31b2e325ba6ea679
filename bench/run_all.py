"""``make bench``: every bench under bench/, one summary table, bench/results/latest.json, and the
table section of docs/performance.md rewritten between its markers.

    python bench/run_all.py            # full: a quarter of an hour or more on 2 cores
    python bench/run_all.py --quick    # fewer, shorter repeats: under ~10 minutes
    python bench/run_all.py --only intake,calls

Each bench prints its own table as it goes; a bench that fails is reported and the others still
run. Figures are medians of repeats, set against a baseline measured in the same run: on a shared
machine the ratios mean more than any absolute number.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import harness

BENCHES = ["calls", "validate", "cli", "intake", "e2e", "memory", "pg"]
RESULTS = harness.BENCH / "results"
DOC = harness.ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def run_validate(quick: bool) -> dict[str, Any]:
    """bench/validate_bench.py belongs to the validate command's author: use its ``run`` when it
    has one, else run it as a script and keep the last JSON object it prints (if any)."""
    path = harness.BENCH / "validate_bench.py"
    if not path.exists():
        print("\nValidate\n  skipped: bench/validate_bench.py does not exist yet", flush=True)
        return {"skipped": "bench/validate_bench.py does not exist yet"}
    module = importlib.import_module("validate_bench")
    runner = getattr(module, "run", None)
    if callable(runner):
        try:
            result = runner(quick=quick)
        except TypeError:
            result = runner()
        return result if isinstance(result, dict) else {"result": result}
    args = [sys.executable, str(path), *(["--quick"] if quick else [])]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    print(done.stdout, end="", flush=True)
    out: dict[str, Any] = {"exit_code": done.returncode}
    for line in reversed(done.stdout.splitlines()):
        if line.strip().startswith("{"):
            try:
                out |= json.loads(line)
                break
            except ValueError:
                continue
    if done.returncode:
        out["error"] = done.stderr.strip()[-500:]
    return out


def bench_function(name: str) -> Callable[[bool], dict[str, Any]]:
    if name == "validate":
        return run_validate
    module = importlib.import_module(f"{name}_bench")
    run: Callable[[bool], dict[str, Any]] = module.run
    return run


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "loadavg_at_start": os.getloadavg(),
    }


# ---- the summary -------------------------------------------------------------------------------
Row = list[str]


def _num(value: Any, unit: str = "", digits: int = 0) -> str:
    if not isinstance(value, int | float) or value != value:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def ratio_of(a: Any, b: Any) -> float:
    ok = isinstance(a, int | float) and isinstance(b, int | float) and b
    return harness.ratio(a, b) if ok else float("nan")


def _x(value: Any) -> str:
    return f"{value:.2f}×" if isinstance(value, int | float) and value == value else "-"


def summary_rows(results: dict[str, Any]) -> list[Row]:
    """figure | jivocrm | baseline | ratio | goal | verdict"""
    rows: list[Row] = []
    for name in BENCHES:
        r = results.get(name)
        if r is None:
            continue
        if "error" in r and len(r) <= 2:
            rows.append([name, "failed", "", "", "", r["error"][:60]])
            continue
        if "skipped" in r:
            rows.append([name, "skipped", "", "", "", str(r["skipped"])])
            continue
        rows += ROWS[name](r)
    return rows


def _intake(r: dict[str, Any]) -> list[Row]:
    bare = r["bare"]
    if "jivocrm" not in r:
        return [["intake req/s", "pending", _num(bare["rps"]), "", "≥ 0.50×", "no daemon yet"]]
    ours, half = r["jivocrm"], r["half_rate"]
    return [
        [
            "intake req/s (64 conn.)",
            _num(ours["rps"]),
            f"bare {_num(bare['rps'])}",
            _x(r["ratio"]),
            "≥ 0.50×",
            harness.verdict(r["goal_ratio_met"]),
        ],
        [
            "intake server CPU µs per request",
            _num(ours["server_cpu_us_per_req"]),
            f"bare {_num(bare['server_cpu_us_per_req'])}",
            _x(r["cpu_ratio"]),
            "",
            "",
        ],
        [
            "intake p50/p99 ms (64 conn.)",
            f"{_num(ours['p50_ms'], digits=1)} / {_num(ours['p99_ms'], digits=1)}",
            f"bare {_num(bare['p50_ms'], digits=1)} / {_num(bare['p99_ms'], digits=1)}",
            "",
            "",
            "",
        ],
        [
            f"intake p99 ms at {half['rate']}/s (½ max)",
            _num(half["jivocrm"]["p99_ms"], digits=1),
            f"bare {_num(half['bare']['p99_ms'], digits=1)}",
            "",
            "< 25 ms",
            harness.verdict(r["goal_p99_met"]),
        ],
    ]


def _e2e(r: dict[str, Any]) -> list[Row]:
    prog = r["program"]
    if "jivocrm" not in r:
        return [["e2e runs/s", "pending", _num(prog["runs_per_s"]), "", "≥ 0.50×", "no daemon yet"]]
    ours = r["jivocrm"]
    return [
        [
            "e2e completed runs/s",
            _num(ours["runs_per_s"]),
            f"program {_num(prog['runs_per_s'])}",
            _x(r["ratio"]),
            "≥ 0.50×",
            harness.verdict(r["goal_met"]),
        ],
        [
            "e2e CPU ms per run",
            _num(ours["cpu_ms_per_run"], digits=2),
            f"program {_num(prog['cpu_ms_per_run'], digits=2)}",
            _x(r["cpu_ratio"]),
            "",
            "",
        ],
    ]


def _calls(r: dict[str, Any]) -> list[Row]:
    rows = []
    for crm, c in (r.get("default_bundle") or {}).items():
        new, ret = c["new_visitor"], c["returning_visitor"]
        rows.append(
            [
                f"{crm} CRM calls/run new / returning (default {c['bundle']})",
                f"{new['calls']:g} / {ret['calls']:g}",
                f"{new['chats_per_s_at_limit']:g} / {ret['chats_per_s_at_limit']:g} chats/s "
                f"at {c['limit_per_s']:g} req/s",
                "",
                f"{c['floor']} (floor) for a new visitor",
                harness.verdict(c["goal_new_met"]),
            ]
        )
    for crm, variants in r.items():
        if crm == "default_bundle":
            continue
        for variant, c in variants.items():
            new, ret = c["new_visitor"], c["returning_visitor"]
            rows.append(
                [
                    f"{crm} CRM calls/run new / returning ({variant})",
                    f"{new['calls']:g} / {ret['calls']:g}",
                    f"{new['chats_per_s_at_limit']:g} / {ret['chats_per_s_at_limit']:g} chats/s "
                    f"at {c['limit_per_s']:g} req/s",
                    "",
                    "2 / 1 search + 1 write",
                    f"{harness.verdict(c['goal_new_met'])} / "
                    f"{harness.verdict(c['goal_returning_met'])}",
                ]
            )
    return rows


def _validate(r: dict[str, Any]) -> list[Row]:
    seconds = next(
        (r[k] for k in ("seconds", "median_s", "median_seconds", "wall_s", "elapsed_s") if k in r),
        None,
    )
    bundles = r.get("bundles", 1000)
    met = r.get("goal_met", r.get("ok", None if seconds is None else seconds < 3))
    return [
        [
            f"validate {bundles:,} bundles, s",
            _num(seconds, digits=2),
            "",
            "",
            "< 3 s",
            harness.verdict(met),
        ]
    ]


def _cli(r: dict[str, Any]) -> list[Row]:
    return [
        [
            f"{name} start-up, s",
            _num(r[name]["median_s"], digits=3),
            f"python -c pass {_num(r['baseline_s'], digits=3)}",
            _x(r[name]["ratio"]),
            "< 1 s",
            harness.verdict(r[name]["goal_met"]),
        ]
        for name in ("jivocrm --help", "jivocrm validate")
    ]


def _memory(r: dict[str, Any]) -> list[Row]:
    return [
        [f"RSS idle, {r['bundles']} bundles", _num(r["idle_rss_mib"], " MiB", 1), "", "", "", ""],
        [
            f"RSS after {r['events']:,} events",
            _num(r["after_load_rss_mib"], " MiB", 1),
            f"at half {_num(r['rss_at_half_mib'], ' MiB', 1)}",
            "",
            "",
            "",
        ],
        [
            "RSS growth per 1,000 events (2nd half)",
            _num(r["growth_kib_per_1000_events"], " KiB", 0),
            "",
            "",
            f"≤ {r['allowance_mib']} MiB in all",
            harness.verdict(r["goal_met"]),
        ],
    ]


def _pg(r: dict[str, Any]) -> list[Row]:
    i, e = r["intake"], r["e2e"]
    return [
        [
            "PostgreSQL intake req/s, 2 instances",
            _num(i["rps"]),
            f"bare {_num(i['bare_rps'])}",
            _x(i["ratio"]),
            "",
            "",
        ],
        [
            "PostgreSQL intake CPU µs/request",
            _num(i.get("cpu_us_per_req")),
            f"bare {_num(i.get('bare_cpu_us_per_req'))}",
            _x(ratio_of(i.get("cpu_us_per_req"), i.get("bare_cpu_us_per_req"))),
            "",
            "",
        ],
        [
            "PostgreSQL e2e runs/s, 2 instances",
            _num(e["runs_per_s"]),
            f"program {_num(e['program_runs_per_s'])}",
            _x(e["ratio"]),
            "",
            "",
        ],
        [
            "PostgreSQL e2e CPU ms per run (both)",
            _num(e["cpu_ms_per_run"], digits=2),
            f"program {_num(e['program_cpu_ms_per_run'], digits=2)}",
            _x(ratio_of(e["cpu_ms_per_run"], e["program_cpu_ms_per_run"])),
            "",
            "",
        ],
    ]


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "calls": _calls,
    "validate": _validate,
    "cli": _cli,
    "intake": _intake,
    "e2e": _e2e,
    "memory": _memory,
    "pg": _pg,
}
HEADER = ["figure", "jivocrm", "baseline (same run)", "ratio", "goal", "verdict"]


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"Measured {meta['finished']} ({'quick' if meta['quick'] else 'full'} run, "
        f"{meta['machine']['cpus']} CPUs, Python {meta['machine']['python']}, load average at "
        f"start {meta['machine']['loadavg_at_start'][0]:.2f}); `make bench` rewrites this table.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def update_doc(table: str) -> bool:
    if not DOC.exists():
        return False
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        return False
    DOC.write_text(pattern.sub(lambda _: f"{START}\n{table}\n{END}", text), encoding="utf-8")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--only", help=f"comma-separated subset of: {','.join(BENCHES)}")
    args = parser.parse_args()
    chosen = BENCHES if not args.only else [b.strip() for b in args.only.split(",")]
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    meta: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "benches": chosen,
        "machine": machine(),
    }
    load = meta["machine"]["loadavg_at_start"][0]
    print(
        f"jivocrm benchmarks ({'quick' if args.quick else 'full'}): {', '.join(chosen)} — "
        f"{meta['machine']['cpus']} CPUs, load average {load:.2f}",
        flush=True,
    )
    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        try:
            results[name] = bench_function(name)(args.quick)
        except (Exception, SystemExit) as exc:  # one failed bench must not stop the others
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"  ({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    meta["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    meta["seconds"] = round(time.perf_counter() - t0, 1)

    rows = summary_rows(results)
    harness.print_table(f"Summary ({meta['seconds']:.0f} s)", rows, HEADER)
    RESULTS.mkdir(exist_ok=True)
    full = chosen == BENCHES
    out = RESULTS / ("latest.json" if full else "partial.json")
    out.write_text(json.dumps({**meta, "results": results}, indent=2, default=str) + "\n")
    print(f"\nfigures written to {out.relative_to(harness.ROOT)}")
    if full:
        if update_doc(markdown(rows, meta)):
            print(f"table updated in {DOC.relative_to(harness.ROOT)}")
        else:
            print(f"{DOC.relative_to(harness.ROOT)} has no {START} … {END} section to update")
    failed = [n for n, r in results.items() if "error" in r and len(r) <= 2]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
