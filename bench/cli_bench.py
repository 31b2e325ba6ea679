"""CLI start-up: ``jivocrm --help`` and ``jivocrm validate`` on the example project, as a user or CI
runs them (a fresh process each time), against ``python -c pass`` on the same interpreter in the
same run. Commands import what they use on first use, so these two stay quick.

    python bench/cli_bench.py [--quick] [--json]
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import harness

JIVOCRM = harness.ROOT / ".venv" / "bin" / "jivocrm"
PYTHON = harness.ROOT / ".venv" / "bin" / "python"
EXAMPLE = harness.ROOT / "bundles"
GOAL_SECONDS = 1.0  # "well under a second"


def wall(args: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(args, cwd=EXAMPLE, capture_output=True, check=True, timeout=60)
        times.append(time.perf_counter() - started)
    return times


def run(quick: bool) -> dict[str, Any]:
    repeats = 5 if quick else 15
    commands = {
        "python -c pass": [str(PYTHON), "-c", "pass"],
        "jivocrm --help": [str(JIVOCRM), "--help"],
        "jivocrm validate": [str(JIVOCRM), "validate"],
    }
    wall(commands["jivocrm validate"], 1)  # warm the file cache and .pyc files once
    times = {name: wall(args, repeats) for name, args in commands.items()}
    base = harness.median(times["python -c pass"])
    out: dict[str, Any] = {"repeats": repeats, "baseline_s": round(base, 4)}
    rows = []
    for name in ("jivocrm --help", "jivocrm validate"):
        median = harness.median(times[name])
        out[name] = {
            "median_s": round(median, 3),
            "spread": harness.spread(times[name]),
            "ratio": harness.ratio(median, base),
            "goal_met": median < GOAL_SECONDS,
        }
        rows.append(
            [
                name,
                f"{median:.3f} s",
                f"python -c pass {base:.3f} s",
                f"{harness.ratio(median, base):.1f}×",
                f"< {GOAL_SECONDS:g} s",
                harness.verdict(median < GOAL_SECONDS),
            ]
        )
    harness.print_table(
        f"CLI start-up (median of {repeats})",
        rows,
        ["command", "wall", "baseline", "ratio", "goal", "verdict"],
    )
    return out


if __name__ == "__main__":
    harness.bench_main(__doc__, run, "cli", "5 repeats instead of 15")
