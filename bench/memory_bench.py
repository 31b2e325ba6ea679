"""Memory: resident set size of ``jivocrm serve`` idle with 100 bundles, and as events pile up.

Setup: a temp project with 100 bundles (one per channel, the end-to-end bundle each; the events
all come on one channel, so one bundle matches each event, as on a real multi-site account),
the durable SQLite store, the amoCRM emulator in its own process with no latency and no limit.
Events (new visitors, ~3 KB) are posted in batches of 1,000; after each batch the bench waits
(bounded) for its runs to complete, reads the daemon's RSS from /proc, and resets the emulator
so its linear contact search stays cheap. Figures: idle RSS, RSS after all events, and the
growth per 1,000 events between the half-way mark (10k) and the end (20k) — a leak shows there,
while the first thousands only warm caches and allocator pools. Goal (issue 8): no growth
beyond noise.

    python bench/memory_bench.py [--quick]     # quick: 4,000 events in batches of 500
"""

from __future__ import annotations

import time
from typing import Any

import harness
import payloads
import projects
from e2e_bench import counts, http_json
from harness import mib, note
from intake_bench import daemon_available, emulator, jivocrm_daemon

BUNDLES = 100
SEEDED_DEALS = 2


def run(quick: bool = False) -> dict[str, Any]:
    total, batch = (4_000, 500) if quick else (20_000, 1_000)
    if not daemon_available():
        note("skipped: jivocrm serve is not available yet")
        return {"skipped": "jivocrm serve is not available yet"}
    template = payloads.write_template(harness.scratch("body") / "chat_finished.json")
    samples: list[tuple[int, int]] = []
    incomplete = 0
    with emulator() as emu:
        bundles = [projects.channel_bundle(n, "amo", "amocrm") for n in range(BUNDLES)]
        project = projects.write_project(
            port=harness.free_port(), crm_url=emu.url, bundles=bundles, channels=BUNDLES
        )
        with jivocrm_daemon(project) as d:
            time.sleep(3)  # let start-up allocations settle
            idle = harness.rss_bytes(d.pid)
            samples.append((0, idle))
            note(f"idle RSS with {BUNDLES} bundles: {mib(idle)} MiB")
            sent = 0
            t0 = time.perf_counter()
            while sent < total:
                http_json(emu.url + "/_emulator/reset", "POST")
                result = harness.loadgen(
                    d.url + project.webhook_path,
                    template,
                    start=1_000_000 + sent,
                    requests=batch,
                    concurrency=16,
                    warmup=0,
                    duration=120,
                )
                sent += batch
                if result["ok"] != batch:
                    note(f"batch ending at {sent}: {result['ok']} of {batch} accepted")
                deadline = time.perf_counter() + 120
                while counts(emu)["deals"] < SEEDED_DEALS + batch:
                    if time.perf_counter() > deadline:
                        incomplete += 1
                        break
                    time.sleep(0.1)
                samples.append((sent, harness.rss_bytes(d.pid)))
                if sent % (total // 4) == 0:
                    note(f"{sent} events: RSS {mib(samples[-1][1])} MiB")
            elapsed = time.perf_counter() - t0
    half = total // 2
    at_half = median_rss(samples, half)
    at_end = median_rss(samples, total)
    growth = (at_end - at_half) / ((total - half) / 1000)
    # "Beyond noise": the second half may add at most 2 MiB or 3 % of the RSS, whichever is more.
    allowance = max(2 * 1024 * 1024, 0.03 * at_half)
    out = {
        "bundles": BUNDLES,
        "events": total,
        "batch": batch,
        "idle_rss_mib": mib(idle),
        "after_load_rss_mib": mib(samples[-1][1]),
        "rss_at_half_mib": mib(at_half),
        "growth_kib_per_1000_events": round(growth / 1024, 1),
        "second_half_growth_mib": mib(at_end - at_half),
        "allowance_mib": mib(allowance),
        "goal_met": at_end - at_half <= allowance,
        "batches_not_completed_in_time": incomplete,
        "seconds": round(elapsed, 1),
        "samples": [(n, mib(rss)) for n, rss in samples],
    }
    report(out, half)
    return out


def median_rss(samples: list[tuple[int, int]], mark: int) -> float:
    """The median of the three samples around ``mark``, so one noisy reading cannot decide."""
    index = next(i for i, (n, _) in enumerate(samples) if n >= mark)
    near = [rss for _, rss in samples[max(1, index - 1) : index + 2]]
    return harness.median(near)


def report(out: dict[str, Any], half: int) -> None:
    harness.print_table(
        f"Memory of jivocrm serve, {out['bundles']} bundles, {out['events']:,} events "
        f"in batches of {out['batch']:,}",
        [
            [
                out["idle_rss_mib"],
                out["rss_at_half_mib"],
                out["after_load_rss_mib"],
                out["growth_kib_per_1000_events"],
                out["second_half_growth_mib"],
            ]
        ],
        [
            "idle MiB",
            f"at {half // 1000}k MiB",
            "after load MiB",
            f"growth KiB/1k events ({half // 1000}k→{out['events'] // 1000}k)",
            "2nd-half growth MiB",
        ],
    )
    note(
        f"goal no growth beyond noise (≤ {out['allowance_mib']} MiB over the second half): "
        f"{harness.verdict(out['goal_met'])}"
    )
    if out["batches_not_completed_in_time"]:
        note(f"{out['batches_not_completed_in_time']} batches' runs did not all end within 120 s")


def main() -> None:
    harness.bench_main(__doc__, run, "memory", "4,000 events instead of 20,000")


if __name__ == "__main__":
    main()
