"""Running one bundle test on fresh in-process emulators and comparing what happened.

Each test gets its own emulators (seeded with the test's CRM state), so tests never see each
other's contacts. Every connection of the project is emulated here, whatever the project says:
a test must never reach a real CRM.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from jivocrm.connectors.spec import method_and_path
from jivocrm.core.i18n import Text
from jivocrm.engine.bundle_tests import crm_state
from jivocrm.engine.bundle_tests.spec import BundleTest
from jivocrm.engine.connections import open_connections
from jivocrm.engine.model import Project
from jivocrm.engine.process import EventReport, process_event

ANY = "*"


@dataclass
class TestResult:
    test: BundleTest
    failures: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def call_key(call: dict[str, Any]) -> str:
    """The call as a test writes it: what its CRM names it (``name_calls``), else its method
    and URL path."""
    named = call.get("call")
    return str(named) if named else method_and_path(str(call["method"]), str(call["url"]))


def name_calls(project: Project, runs: list[Any]) -> None:
    """Give every call of ``runs`` the name its CRM's spec gives it (``ConnectorSpec.call_name``:
    a path for one CRM, a REST method for another), from the connection of its step."""
    from jivocrm.connectors import CONNECTORS

    for run in runs:
        if run.outcome is None:
            continue
        for record in run.outcome.steps:
            step = run.match.bundle.step(record.step_id)
            connection = project.connections.get(step.connection) if step else None
            if connection is None:
                continue
            spec = CONNECTORS[connection.type]
            for call in record.calls:
                call["call"] = spec.call_name(str(call["method"]), str(call["url"]))


def same(expected: Any, actual: Any, where: str = "") -> Iterator[str]:
    """Every place where ``actual`` does not match ``expected`` (subset rules, see spec)."""
    if expected == ANY:
        if actual is None:
            yield Text("{where}: expected a value, got null", where=where or "value")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            yield Text(
                "{where}: expected a mapping, got {actual}",
                where=where or "value",
                actual=_show(actual),
            )
            return
        for key, value in expected.items():
            yield from same(value, actual.get(key), f"{where}.{key}" if where else str(key))
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            count = len(actual) if isinstance(actual, list) else Text("not a list")
            yield Text(
                "{where}: expected {expected} items, got {count}",
                where=where or "value",
                expected=len(expected),
                count=count,
            )
            return
        for n, (e, a) in enumerate(zip(expected, actual, strict=True)):
            yield from same(e, a, f"{where}[{n}]")
        return
    if expected == actual or (
        expected is not None and actual is not None and str(expected) == str(actual)
    ):
        return
    yield Text(
        "{where}: expected {expected}, got {actual}",
        where=where or "value",
        expected=_show(expected),
        actual=_show(actual),
    )


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:199] + "…"


def _calls_diff(expected: list[Any], actual: list[dict[str, Any]]) -> list[str]:
    want = [e if isinstance(e, str) else str(e.get("call")) for e in expected]
    got = [call_key(c) for c in actual]
    if want != got:
        diff = difflib.unified_diff(want, got, "expected calls", "actual calls", lineterm="")
        return [Text("calls differ:\n    {diff}", diff="\n    ".join(diff))]
    problems = []
    for n, (e, call) in enumerate(zip(expected, actual, strict=True)):
        if isinstance(e, dict) and "request" in e:
            problems += list(same(e["request"], call.get("request"), f"calls[{n}].request"))
    return problems


def _runs(test: BundleTest, report: EventReport) -> list[Any]:
    return [r for r in report.runs if test.bundle is None or r.match.bundle.name == test.bundle]


def compare(test: BundleTest, report: EventReport, state: dict[str, Any]) -> list[str]:
    expect, runs = test.expect, _runs(test, report)
    failures: list[str] = []
    if test.bundle is not None and not runs:
        return [Text("no bundle {name} in the project", name=repr(test.bundle))]
    matched = any(r.match.matched for r in runs)
    reasons = "; ".join(f"{r.match.bundle.name}: {r.match.reason}" for r in runs)
    if "matched" in expect and expect["matched"] != matched:
        failures.append(
            Text(
                "matched: expected {expected}, got {matched} ({reasons})",
                expected=expect["matched"],
                matched=matched,
                reasons=reasons,
            )
        )
    if "reason" in expect and expect["reason"] not in reasons:
        failures.append(
            Text(
                "reason: expected to contain {expected}, got {reasons}",
                expected=repr(expect["reason"]),
                reasons=repr(reasons),
            )
        )
    outcomes = [r.outcome for r in runs if r.outcome is not None]
    records = [rec for o in outcomes for rec in o.steps]
    if "status" in expect:
        got = [o.status for o in outcomes]
        if not got or any(s != expect["status"] for s in got):
            errors = "; ".join(o.error for o in outcomes if o.error)
            failures.append(
                Text(
                    "status: expected {expected}, got {got} {errors}",
                    expected=expect["status"],
                    got=got,
                    errors=errors,
                )
                if errors
                else Text(
                    "status: expected {expected}, got {got}", expected=expect["status"], got=got
                )
            )
    if "error" in expect and not any(expect["error"] in (o.error or "") for o in outcomes):
        failures.append(
            Text("error: expected to contain {expected}", expected=repr(expect["error"]))
        )
    calls = [c for rec in records for c in rec.calls]
    if "calls" in expect:
        failures += _calls_diff(expect["calls"], calls)
    outputs = {rec.step_id: {**rec.output, "status": rec.status} for rec in records}
    for step_id, wanted in (expect.get("steps") or {}).items():
        if step_id not in outputs:
            failures.append(Text("steps.{id}: the step did not run", id=step_id))
        else:
            failures += list(same(wanted, outputs[step_id], f"steps.{step_id}"))
    for name, wanted in (expect.get("crm") or {}).items():
        failures += list(same(wanted, state.get(name), f"crm.{name}"))
    if "reply" in expect:
        failures += list(same(expect["reply"], report.reply, "reply"))
    return failures


async def run_test(test: BundleTest, project: Project) -> TestResult:
    emulated = {
        name: dataclasses.replace(c, emulate=True) for name, c in project.connections.items()
    }
    project = dataclasses.replace(project, connections=emulated)
    with tempfile.TemporaryDirectory(prefix="jivocrm-test-") as folder:
        seeds = {
            name: crm_state.write_seed(project.connections[name].type, state, Path(folder), name)
            for name, state in test.crm.items()
            if name in project.connections
        }
        unknown = sorted(set(test.crm) - set(project.connections))
        if unknown:
            return TestResult(test, [f"crm: no connection {', '.join(unknown)} in the project"])
        async with (
            aiohttp.ClientSession() as session,
            open_connections(
                project, session, seeds=seeds, fast_emulators=True, state_dir=Path(folder)
            ) as connectors,
        ):
            for name, emulator in connectors.emulators.items():
                crm_state.quiet(project.connections[name].type, emulator.app)
            report = await process_event(
                project,
                test.event,
                connectors,
                connectors.caches,
                only=test.bundle,
                dry_run=test.dry_run,
            )
            state = {
                name: crm_state.entities(project.connections[name].type, emulator.app)
                for name, emulator in connectors.emulators.items()
            }
    name_calls(project, _runs(test, report))
    result = TestResult(test, compare(test, report, state))
    result.calls = [
        c for r in _runs(test, report) if r.outcome for s in r.outcome.steps for c in s.calls
    ]
    return result


__all__ = ["TestResult", "call_key", "compare", "run_test", "same"]
