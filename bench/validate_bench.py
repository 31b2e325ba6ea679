"""Validate: ``jivocrm validate`` on a project of 1,000 realistic bundles, against the 3 s goal.

The project is generated in a temp directory from the default bundles ``jivocrm init`` writes
(both CRMs), varied the way real projects vary: channel lists, extra filter conditions, `when`
clauses, a lookup table, custom fields, other pipelines and stages; with a metadata snapshot, so
the names are checked too. The figure is the wall time of the whole command as CI runs it (a
subprocess, interpreter start-up included), median of 3 runs. Goal (issue 2): under 3 s.

    python bench/validate_bench.py [--quick] [--bundles N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
JIVOCRM = ROOT / ".venv" / "bin" / "jivocrm"
GOAL_SECONDS = 3.0
WIDGETS = ["aB3dE5fGh7", "Kx81LmQ0pz", "Qw7Er5Ty3u"]
CRMS = ("amocrm", "bitrix24")


def _yaml() -> YAML:
    yaml = YAML()
    yaml.width = 120
    return yaml


def _templates(files: dict[str, str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The default bundles of each CRM, as ``jivocrm init`` writes them (``files``)."""
    from jivocrm.scaffold import bundle_names

    yaml = _yaml()
    return {
        crm: [(name[:-5], yaml.load(files[f"{crm}/{name}"])) for name in bundle_names(crm)]
        for crm in CRMS
    }


def _vary(bundle: dict[str, Any], rng: random.Random, crm: str) -> None:
    steps = bundle["steps"]
    if rng.random() < 0.5:
        bundle["trigger"]["channels"] = rng.sample(WIDGETS, rng.randint(1, 2))
    if rng.random() < 0.3 and "filter" in bundle:
        bundle["filter"]["any"][0]["all"].append(
            {"field": "page.url", "op": "contains", "value": rng.choice(["/catalog", "/sale"])}
        )
    if rng.random() < 0.4:
        steps.insert(
            0,
            {
                "id": "source",
                "type": "table_replace",
                "value": "{{ event.widget_id }}",
                "table": {w: f"Сайт {i + 1}" for i, w in enumerate(WIDGETS)},
                "default": "Другой сайт",
            },
        )
    for step in steps:
        if step["type"] == "new_deal":
            fields = step["fields"]
            if crm == "amocrm" and rng.random() < 0.3:
                fields["pipeline"], fields["stage"] = "Опт", "Новая заявка"
            if any(s["id"] == "source" for s in steps) and rng.random() < 0.7:
                fields["custom"] = {"Источник": "{{ steps.source.value }}"}
            if rng.random() < 0.3:
                fields["price"] = "{{ event.visitor.chats_count * 1000 }}"
        if step["type"] == "new_contact" and rng.random() < 0.3:
            step["when"] = "{{ event.visitor.name | length > 1 or event.phone }}"
        if step["type"] == "find_employee" and rng.random() < 0.5:
            step["default"] = "Ольга Петрова"


def write_project(root: Path, count: int, seed: int = 2) -> None:
    from jivocrm.scaffold import project_files

    rng = random.Random(seed)
    files = project_files(list(CRMS), emulate=True)
    project = files["jivocrm.yaml"].replace("bundles: [amocrm/, bitrix24/]", "bundles: bundles/")
    extra = "".join(
        f"  site{i}:\n    widget_id: {w}\n    token: ${{JIVO_SITE{i}_TOKEN}}\n"
        for i, w in enumerate(WIDGETS[1:], 1)
    )
    project = project.replace("connections:\n", extra + "connections:\n", 1)
    (root / "jivocrm.yaml").write_text(project, "utf-8")
    (root / "bundles").mkdir()
    # The metadata snapshot, as `jivocrm connections refresh` writes it from the emulators.
    refresh = [str(JIVOCRM), "connections", "refresh", "--project", str(root)]
    subprocess.run(refresh, check=True, capture_output=True)
    templates = _templates(files)
    yaml = _yaml()
    for n in range(count):
        crm = rng.choice(CRMS)
        stem, template = rng.choice(templates[crm])
        bundle = json.loads(json.dumps(template))  # a plain deep copy
        rest = {k: v for k, v in bundle.items() if k not in ("version", "name")}
        bundle = {"version": 1, "name": f"b{n:04d}-{crm}-{stem}", **rest}
        _vary(bundle, rng, crm)
        out = io.StringIO()
        yaml.dump(bundle, out)
        (root / "bundles" / f"b{n:04d}-{stem}.yaml").write_text(out.getvalue(), "utf-8")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_validate(root: Path, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run. CPU time tells what the command costs when other work
    shares the machine and stretches the wall time."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu = _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(
            [str(JIVOCRM), "validate", str(root)], capture_output=True, text=True, check=False
        )
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
        if done.returncode != 0:
            raise SystemExit(f"validate failed on the generated project:\n{done.stdout[-3000:]}")
    return walls, cpus


def run(quick: bool = False, bundles: int = 1000) -> dict[str, Any]:
    repeats = 3
    with tempfile.TemporaryDirectory(prefix="jivocrm-validate-bench-") as tmp:
        root = Path(tmp)
        write_project(root, bundles)
        time_validate(root, 1)  # warm the file cache and the .pyc files
        times, cpus = time_validate(root, repeats)
    median = statistics.median(times)
    cpu = statistics.median(cpus)
    result = {
        "bundles": bundles,
        "median_s": round(median, 3),
        "runs_s": [round(t, 3) for t in times],
        "cpu_s": round(cpu, 3),
        "bundles_per_s": round(bundles / median, 1),
        "goal_s": GOAL_SECONDS,
        "ratio_to_goal": round(median / GOAL_SECONDS, 3),
        "ok": median < GOAL_SECONDS,
        "load_average": round(os.getloadavg()[0], 2),
    }
    print("\nValidate (jivocrm validate, subprocess, median of 3)")
    print(f"  bundles           {bundles}")
    print(f"  wall time         {median:.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"  CPU time          {cpu:.2f} s   (load average {os.getloadavg()[0]:.1f})")
    print(f"  bundles/s         {bundles / median:.0f}")
    print(f"  vs the 3 s goal   {median / GOAL_SECONDS:.2f}x  {'ok' if result['ok'] else 'SLOW'}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted for make bench; same run")
    parser.add_argument("--bundles", type=int, default=1000)
    args = parser.parse_args()
    result = run(args.quick, args.bundles)
    print(json.dumps(result))
    sys.exit(0)


if __name__ == "__main__":
    main()
