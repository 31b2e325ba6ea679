"""CRM calls per run: the figure that decides real throughput under the CRMs' rate limits.

Setup: the engine's ``Runner`` executes the bench bundle (find the operator's user, new contact
with a duplicate check by phone and e-mail, new deal with a duplicate check by contact) in this
process, against each CRM's emulator on 127.0.0.1, and every request is read back from the
emulator's request log. Cases:

* warm-up: the first run of a fresh process, which fills the user and metadata caches — its
  extra calls (users, pipelines, fields) are reported apart, since a daemon pays them once;
* new visitor: contact and deal both new, duplicate checks on;
* returning visitor: the same phone and e-mail again — found, so nothing is created.

Calls are classed as search, read, write or metadata. chats/s at the CRM's limit = limit /
calls per run (amoCRM 7 requests/s per account; Bitrix24 2 requests/s sustained). Goal (issue
8): 2 calls per new visitor for both CRMs; 1 search + 1 update for a returning visitor.

Then the default chat_finished bundle of ``jivocrm init`` (contact, deal, transcript note) for
every CRM of ``jivocrm.connectors.CONNECTORS``, on the emulator its spec names, counted in the
run's journal against the floor of 2 (one search, one write) for a new visitor.

    python bench/calls_bench.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

import harness
import payloads
import projects
from harness import note

LIMITS = {"amocrm": 7.0, "bitrix24": 2.0}
AMO_METADATA = ("/api/v4/users", "/api/v4/leads/pipelines", "/custom_fields")
B24_METADATA = ("user.", "crm.category.", "crm.status.", ".fields", "crm.dealcategory.", "profile")


def classify(crm: str, request: dict[str, Any]) -> str:
    """metadata, search, read or write, for one entry of an emulator's request log."""
    if crm == "amocrm":
        path, method = request["path"], request["method"]
        if any(part in path for part in AMO_METADATA):
            return "metadata"
        if method == "GET":
            return "search" if "query=" in (request.get("query") or "") else "read"
        return "write"
    name = str(request["method"])
    if any(part in name for part in B24_METADATA):
        return "metadata"
    if name.startswith("crm.duplicate."):
        return "search"
    if name == "batch":
        return "batch"  # classed by its commands, from the journal (see _batch_kind)
    if name.endswith((".add", ".update", ".delete")):
        return "write"
    return "read"


def _batch_kind(call: dict[str, Any]) -> str:
    """A Bitrix24 batch as the journal recorded it: write if any command writes, search if all
    are duplicate searches, else metadata (the emulator logs a batch as one request)."""
    text = json.dumps(call.get("request"), ensure_ascii=False)
    if any(verb in text for verb in (".add", ".update", ".delete")):
        return "write"
    return "search" if "findbycomm" in text else "metadata"


def _resolve_batches(kinds: list[str], journal: Any) -> list[str]:
    batches = [
        _batch_kind(call)
        for record in journal.records
        for call in record.calls
        if str(call.get("url", "")).rstrip("/").split("/")[-1].split(".")[0] == "batch"
    ]
    if len(batches) != kinds.count("batch"):
        raise harness.BenchError("Bitrix24 batches in the journal and the emulator log differ")
    found = iter(batches)
    return [next(found) if kind == "batch" else kind for kind in kinds]


def _requests(crm: str, emulator: Any) -> list[dict[str, Any]]:
    return list(emulator.state.requests)


async def _emulator(crm: str) -> Any:
    if crm == "amocrm":
        from jivocrm.connectors.amocrm.emulator import running_emulator

        return running_emulator(random_seed=1, rate_limit=0)
    from jivocrm.connectors.bitrix24.emulator import running_emulator as b24

    return b24(faults={"rate_limit": {"rate": 0, "burst": 1}}, random_seed=1)


# Bundle shapes: the (contact checked by phone and e-mail, deal reused if the contact has
# an open one), then the cheaper shapes a user may choose.
VARIANTS: dict[str, dict[str, Any]] = {
    "phone+email, deal check": {"match": ("phone", "email"), "deal_check": True},
    "phone+email": {"match": ("phone", "email"), "deal_check": False},
    "phone only": {"match": ("phone",), "deal_check": False},
}


async def measure_crm(crm: str, new_visitors: int, variant: dict[str, Any]) -> dict[str, Any]:
    from jivocrm.connectors import CONNECTORS
    from jivocrm.connectors.spec import ConnectionContext
    from jivocrm.core.records import MemoryJournal
    from jivocrm.engine.envvars import resolve
    from jivocrm.engine.events import parse_event
    from jivocrm.engine.project import load_project
    from jivocrm.engine.runner import Runner

    async with await _emulator(crm) as emu, aiohttp.ClientSession() as session:
        connection_name = "amo" if crm == "amocrm" else "b24"
        bundle_spec = projects.e2e_bundle(connection_name, crm, **variant)
        spec = projects.write_project(port=0, crm_url=emu.url, crm=crm, bundles=[bundle_spec])
        project, problems = load_project(spec.root)
        if project is None:
            raise harness.BenchError("bench project invalid: " + "; ".join(map(str, problems)))
        ((name, connection),) = project.connections.items()
        config = resolve(dict(connection.config), {**os.environ, **spec.env})
        ctx = ConnectionContext(name=name, session=session, state_dir=spec.root / ".jivocrm")
        runner = Runner(project, {name: CONNECTORS[connection.type].build(config, ctx)})
        (bundle,) = project.bundles

        async def one(n: int, *, returning: bool = False) -> dict[str, Any]:
            before = len(_requests(crm, emu))
            event = parse_event(json.loads(payloads.body(n, returning=returning)))
            journal = MemoryJournal()
            outcome = await runner.execute(bundle, event, journal=journal)
            if outcome.status != "succeeded":
                raise harness.BenchError(f"{crm}: run {outcome.status}: {outcome.error}")
            log = _requests(crm, emu)[before:]
            kinds = _resolve_batches([classify(crm, r) for r in log], journal)
            routes = [f"{r['method']} {r.get('path', '')}".strip() for r in log]
            return {"kinds": kinds, "routes": routes}

        first = await one(2_000_000)
        news = [await one(2_000_001 + i) for i in range(new_visitors)]
        # The returning visitor: created once (not counted), then the same person again.
        await one(3_000_000, returning=True)
        returning = await one(3_000_001, returning=True)

    per_new = _per_run(news)
    per_ret = _per_run([returning])
    calls_new = sum(v for k, v in per_new.items() if k != "metadata")
    calls_ret = sum(v for k, v in per_ret.items() if k != "metadata")
    return {
        # What the first run of a fresh process costs on top of a steady one (cached afterwards).
        "warmup_calls": round(len(first["routes"]) - calls_new, 2),
        "first_run_routes": first["routes"],
        "new_visitor": {
            "calls": calls_new,
            "by_kind": per_new,
            "routes": news[-1]["routes"],
            "chats_per_s_at_limit": round(LIMITS[crm] / calls_new, 2) if calls_new else None,
        },
        "returning_visitor": {
            "calls": calls_ret,
            "by_kind": per_ret,
            "routes": returning["routes"],
            "chats_per_s_at_limit": round(LIMITS[crm] / calls_ret, 2) if calls_ret else None,
        },
        "limit_per_s": LIMITS[crm],
        "goal_new_met": calls_new <= 2,
        "goal_returning_met": per_ret.get("search", 0) <= 1 and calls_ret <= 2,
    }


# The bundle `jivocrm init` writes for a finished chat with a phone or an e-mail: the contact,
# the deal (an order) and the transcript as a note. Floor: one search and one write.
DEFAULT_BUNDLE = "chat-finished-with-contacts"
FLOOR = 2


def _call_kind(call: dict[str, Any]) -> str:
    """search, read or write for one call of a run's journal, whichever CRM made it."""
    method = str(call.get("method", "")).upper()
    url = str(call.get("url", ""))
    text = url + json.dumps(call.get("request"), ensure_ascii=False, default=str)
    if any(verb in text for verb in (".add", ".update", ".delete", "/create", "/edit")):
        return "write"
    if "findbycomm" in text or "query=" in url or "filter" in text:
        return "search"
    return (
        "write"
        if method in ("PUT", "PATCH", "DELETE")
        or (method == "POST" and "batch" not in url and "/list" not in url)
        else "read"
    )


def init_project(crm: str) -> Path:
    """A scratch project from ``jivocrm init --crm <crm> --emulate``."""
    root = harness.scratch(f"init-{crm}")
    init = projects.jivocrm_command("init", str(root), "--crm", crm, "--emulate", "--force")
    subprocess.run(init, check=True, capture_output=True, timeout=120)
    return root


async def measure_default(crm: str, new_visitors: int, root: Path) -> dict[str, Any]:
    """Calls per run of the default chat_finished bundle of ``jivocrm init --crm <crm>`` (in
    ``root``), its connection on the emulator the CRM's spec names, counted in the run's
    journal."""
    from jivocrm.connectors import CONNECTORS
    from jivocrm.core.records import MemoryJournal
    from jivocrm.engine.bundle_tests import crm_state
    from jivocrm.engine.connections import open_connections
    from jivocrm.engine.matching import match_bundle
    from jivocrm.engine.project import load_project
    from jivocrm.engine.runner import Runner

    project, problems = load_project(root)
    if project is None:
        raise harness.BenchError(f"{crm}: init project invalid: {problems}")
    bundle = next(b for b in project.bundles if b.name.endswith(DEFAULT_BUNDLE))
    seeds = {
        name: crm_state.write_seed(c.type, {"contacts": []}, root, name)
        for name, c in project.connections.items()
    }
    async with (
        aiohttp.ClientSession() as session,
        open_connections(project, session, seeds=seeds, fast_emulators=True) as conns,
    ):
        for name, emulator in conns.emulators.items():
            crm_state.quiet(project.connections[name].type, emulator.app)
        runner = Runner(project, conns, conns.caches)
        spec = CONNECTORS[crm]
        routes: list[list[str]] = []

        async def one(n: int, *, returning: bool = False) -> list[str]:
            event = project.parse(json.loads(payloads.body(n, returning=returning)))
            if not match_bundle(bundle, event).matched:
                raise harness.BenchError(f"{crm}: {bundle.name} does not match the bench event")
            journal = MemoryJournal()
            outcome = await runner.execute(bundle, event, journal=journal)
            if outcome.status != "succeeded":
                raise harness.BenchError(f"{crm}: run {outcome.status}: {outcome.error}")
            calls = [c for r in journal.records for c in r.calls]
            routes.append([spec.call_name(str(c["method"]), str(c["url"])) for c in calls])
            return [_call_kind(c) for c in calls]

        first = await one(4_000_000)
        news = [await one(4_000_001 + i) for i in range(new_visitors)]
        await one(5_000_000, returning=True)
        returning = await one(5_000_001, returning=True)
    rate = CONNECTORS[crm].default_rate[0]
    calls_new = sum(len(r) for r in news) / len(news)
    out: dict[str, Any] = {"bundle": bundle.name, "limit_per_s": rate, "floor": FLOOR}
    out["warmup_calls"] = round(len(first) - calls_new, 2)
    for case, runs in (("new_visitor", news), ("returning_visitor", [returning])):
        calls = sum(len(r) for r in runs) / len(runs)
        by_kind = _per_run([{"kinds": r} for r in runs])
        by_kind.pop("metadata", None)
        out[case] = {
            "calls": round(calls, 2),
            "by_kind": by_kind,
            "chats_per_s_at_limit": round(rate / calls, 2) if calls else None,
        }
    out["goal_new_met"] = calls_new <= FLOOR
    out["new_visitor"]["routes"], out["returning_visitor"]["routes"] = routes[-3], routes[-1]
    return out


def _per_run(runs: list[dict[str, Any]]) -> dict[str, float]:
    total: Counter[str] = Counter()
    for run in runs:
        total.update(run["kinds"])
    total.setdefault("metadata", 0)
    return {k: round(v / len(runs), 2) for k, v in sorted(total.items())}


def quiet_logs() -> None:
    """The engine logs every step at info; a bench prints only its figures."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def run(quick: bool = False) -> dict[str, Any]:
    quiet_logs()
    new_visitors = 3 if quick else 10
    out: dict[str, Any] = {}
    for crm in ("amocrm", "bitrix24"):
        out[crm] = {
            name: asyncio.run(measure_crm(crm, new_visitors, variant))
            for name, variant in VARIANTS.items()
        }
    from jivocrm.connectors import CONNECTORS

    out["default_bundle"] = {
        crm: asyncio.run(measure_default(crm, new_visitors, init_project(crm)))
        for crm, spec in CONNECTORS.items()
        if spec.emulator is not None and spec.scaffold is not None
    }
    report(out)
    return out


def _kinds_text(by_kind: dict[str, float]) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in by_kind.items() if k != "metadata") or "-"


def report(out: dict[str, Any]) -> None:
    defaults = out.get("default_bundle") or {}
    out = {k: v for k, v in out.items() if k != "default_bundle"}
    rows = []
    for crm, variants in out.items():
        for variant, r in variants.items():
            for case in ("new_visitor", "returning_visitor"):
                c = r[case]
                met = r["goal_new_met" if case == "new_visitor" else "goal_returning_met"]
                rows.append(
                    [
                        crm,
                        variant,
                        case.split("_")[0],
                        c["calls"],
                        _kinds_text(c["by_kind"]),
                        c["chats_per_s_at_limit"],
                        harness.verdict(met),
                    ]
                )
    harness.print_table(
        "CRM calls per run (emulator request log; cached users and metadata excluded); "
        "chats/s at amoCRM 7 req/s, Bitrix24 2 req/s",
        rows,
        ["CRM", "bundle (duplicate checks)", "visitor", "calls", "kinds", "chats/s", "goal"],
    )
    if defaults:
        harness.print_table(
            f"CRM calls per run of the default bundle of `jivocrm init` ({DEFAULT_BUNDLE}: "
            "contact, deal, transcript note), counted in the run's journal; chats/s at the "
            "CRM's default rate",
            [
                [
                    crm,
                    case.split("_")[0],
                    r[case]["calls"],
                    _kinds_text(r[case]["by_kind"]),
                    r[case]["chats_per_s_at_limit"],
                    r["floor"] if case == "new_visitor" else "",
                    harness.verdict(r["goal_new_met"]) if case == "new_visitor" else "",
                ]
                for crm, r in defaults.items()
                for case in ("new_visitor", "returning_visitor")
            ],
            ["CRM", "visitor", "calls", "kinds", "chats/s", "floor", "goal"],
        )
    for crm, r in defaults.items():
        for case in ("new_visitor", "returning_visitor"):
            note(f"{crm}, default bundle, {case.split('_')[0]}: {' → '.join(r[case]['routes'])}")
    for crm, variants in out.items():
        first = next(iter(variants.values()))
        note(
            f"{crm}: a fresh process's first run adds {first['warmup_calls']:g} calls (users and "
            f"metadata, cached afterwards): {' → '.join(first['first_run_routes'])}"
        )
        for variant, r in variants.items():
            for case in ("new_visitor", "returning_visitor"):
                routes = " → ".join(r[case]["routes"])
                note(f"{crm}, {variant}, {case.split('_')[0]}: {routes}")


def main() -> None:
    os.environ.setdefault("TMPDIR", tempfile.gettempdir())
    harness.bench_main(__doc__, run, "calls", "fewer new-visitor runs")


if __name__ == "__main__":
    main()
