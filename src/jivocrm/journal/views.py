"""The journal as data, shared by the CLI and the web page: one run in full, one event explained.

``explanation`` puts two verdicts side by side for every bundle: what intake recorded when the
event arrived (the run and how it ended, or why the bundle did not match), and what the project as
it is NOW would decide — so a user who has just fixed a filter sees that the next event will run.
Everything here is unredacted; whoever shows it applies ``redaction.journal_redactor``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import asdict
from typing import Any

from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import N_, Text
from jivocrm.engine import versions
from jivocrm.engine.matching import match
from jivocrm.engine.model import Bundle, Project
from jivocrm.store.base import Event, EventDetail, Run, RunFilter, StepRow, Store

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
ALL = 1_000_000  # "every run" for the journal's queries, which page by limit


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``15m``, ``2h``, ``3d``, ``1w``."""
    found = DURATION.match(text)
    if not found:
        raise JivoCRMError(f"{text!r} is not a duration: write it like 90s, 15m, 2h, 3d or 1w")
    return float(found.group(1)) * UNITS[found.group(2).lower()]


def parse_when(text: str | None, now: float | None = None) -> float | None:
    """A moment from a duration ago (``2h``, ``3d``) or an ISO date/time (local unless it says)."""
    if text is None:
        return None
    now = time.time() if now is None else now
    if DURATION.match(text):
        return now - parse_duration(text)
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise JivoCRMError(
            f"{text!r} is neither a duration (2h, 3d) nor a date (2024-05-01, 2024-05-01T14:30)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive = the local time of whoever typed it
    return moment.timestamp()


def run_json(run: Run) -> dict[str, Any]:
    data = asdict(run)
    data.pop("lease_owner")
    data.pop("lease_expires")
    return data


def event_json(event: Event) -> dict[str, Any]:
    data = asdict(event)
    data.pop("body")
    try:
        data["payload"] = event.payload()
    except ValueError:
        data["payload"] = event.body.decode("utf-8", "replace")
    return data


def visitor_of(event: dict[str, Any] | None) -> dict[str, str | None] | None:
    """The visitor's name, phone and e-mail as text (None where absent), whatever the payload
    holds; None when it has no visitor object at all."""
    payload = event.get("payload") if event else None
    visitor = payload.get("visitor") if isinstance(payload, dict) else None
    if not isinstance(visitor, dict):
        return None
    out: dict[str, str | None] = {}
    for key in ("name", "phone", "email"):
        value = visitor.get(key)
        out[key] = None if value is None or value == "" else str(value)
    return out


def step_json(row: StepRow) -> dict[str, Any]:
    record = asdict(row.record)
    record["status"] = row.status
    record["attempt"] = row.attempt
    finished = row.record.finished_at or None
    record["duration_s"] = (finished - row.record.started_at) if finished else None
    return record


async def run_data(
    store: Store, project: Project, run_id: int, *, with_diff: bool = False
) -> dict[str, Any]:
    """One run as ``--format json`` prints it (and the text view reads it), unredacted.
    ``with_diff`` adds the diff from the run's bundle version to the current one."""
    run = await store.get_run(run_id)
    if run is None:
        raise JivoCRMError(f"no run {run_id} in the journal (pruned, or a wrong number?)")
    event = await store.get_event(run.event_id)
    steps: list[StepRow] = await store.steps(run.id)
    later = await store.list_runs(RunFilter(bundle=run.bundle, limit=ALL))
    bundle = project.bundle(run.bundle)
    shown = event_json(event) if event else None
    version = await store.bundle_version(run.version_hash)
    data: dict[str, Any] = {
        "run": run_json(run),
        "event": shown,
        "visitor": visitor_of(shown),
        "bundle": {
            "name": run.bundle,
            "version": run.version_hash,
            "ran_version": run.ran_hash,
            "current_version": bundle.version_hash if bundle else None,
            "version_kept": version is not None,
        },
        "replays": [r.id for r in later if r.replay_of == run.id],
        "steps": [step_json(row) for row in steps],
    }
    if with_diff:
        data["diff"] = versions.diff(version, bundle) if version is not None else None
    return data


async def bundle_rows(store: Store | None, project: Project) -> list[dict[str, Any]]:
    """Every bundle with what holds it (its file, a runtime hold) and its waiting runs; runtime
    holds of bundles no longer in the project come last. No store: nothing held or waiting."""
    holds = {h.bundle: h for h in await store.holds()} if store else {}
    stats = await store.stats(now=time.time()) if store else None
    waiting = stats.runs if stats else {}

    def row(name: str, bundle: Bundle | None) -> dict[str, Any]:
        hold = holds.pop(name, None)
        by_file = bundle is not None and not bundle.enabled
        return {
            "bundle": name,
            "file": bundle.file if bundle else None,
            "event": bundle.event if bundle else None,
            "channels": list(bundle.channels) if bundle else [],
            "version": bundle.version_hash if bundle else None,
            "held": by_file or hold is not None,
            "held_by_file": by_file,
            "hold": asdict(hold) if hold else None,
            "paused_runs": waiting.get((name, "paused"), 0),
            "queued_runs": waiting.get((name, "queued"), 0),
        }

    rows = [row(b.name, b) for b in project.bundles]
    rows += [row(name, None) for name in sorted(holds)]
    return rows


def _run_verdict(run: Run, steps: list[dict[str, Any]]) -> str:
    if run.status == "failed":
        failed = next((s for s in reversed(steps) if s["status"] == "failed"), None)
        error = run.error or Text("no error recorded")
        if failed:
            return Text(
                "ran: run {run} failed at step {step}: {error}",
                run=run.id,
                step=failed["step_id"],
                error=error,
            )
        return Text("ran: run {run} failed: {error}", run=run.id, error=error)
    if run.status == "paused":
        return Text(
            "held: run {run} waits until the bundle is resumed (enabled: true in its file,"
            " or `jivocrm bundles resume {bundle}`)",
            run=run.id,
            bundle=run.bundle,
        )
    return Text("ran: run {run} {status}", run=run.id, status=status_text(run.status))


def _current(project: Project, detail: EventDetail, held: set[str]) -> dict[str, dict[str, Any]]:
    """What the project as it is now decides for this event, per bundle (``held``: bundles
    paused at run time)."""
    try:
        event = project.parse(detail.event.payload())
        channel = project.channels.get(detail.event.channel)
        found = match(project, event, channel)
    except Exception as exc:  # whatever the journal holds, the page shows it
        reason = Text("unreadable event: {error}", error=str(exc))
        verdict = {"matched": False, "paused": False, "reason": reason}
        return {b.name: verdict for b in project.bundles}
    return {
        m.bundle.name: {
            "matched": m.matched,
            "paused": m.paused or (m.matched and m.bundle.name in held),
            "reason": m.reason,
        }
        for m in found
    }


async def explanation(store: Store, project: Project, event_id: int) -> dict[str, Any]:
    detail = await store.event_detail(event_id)
    if detail is None:
        raise JivoCRMError(f"no event {event_id} in the journal (pruned, or a wrong number?)")
    now = _current(project, detail, {h.bundle for h in await store.holds()})
    recorded: dict[str, dict[str, Any]] = {}
    for run in detail.runs:
        steps = [step_json(s) for s in detail.steps.get(run.id, [])]
        recorded[run.bundle] = {
            "run": run.id,
            "status": run.status,
            "error": run.error,
            "verdict": _run_verdict(run, steps),
        }
    for bundle, reason in detail.not_matched:
        verdict = Text("did not match: {reason}", reason=reason)
        recorded.setdefault(bundle, {"run": None, "verdict": verdict})
    names = list(now) + [name for name in recorded if name not in now]
    bundles = [
        {"bundle": name, "at_intake": recorded.get(name), "now": now.get(name)} for name in names
    ]
    return {
        "event": event_json(detail.event),
        "bundles": bundles,
        "summary": _summary(detail, bundles),
    }


def _summary(detail: EventDetail, bundles: list[dict[str, Any]]) -> str:
    if detail.event.status != "accepted":
        return Text(
            "the event was {status} at intake: no bundle ran",
            status=status_text(detail.event.status),
        )
    if not detail.runs:
        return Text("no bundle matched this event at intake, so nothing was sent to the CRM")
    failed = [r for r in detail.runs if r.status == "failed"]
    if failed:
        ids = ", ".join(str(r.id) for r in failed)
        return Text(
            "{count} run(s) failed ({ids}): `jivocrm runs show RUN`, then `runs replay`",
            count=len(failed),
            ids=ids,
        )
    waiting = [r for r in detail.runs if r.status in ("queued", "running", "paused")]
    if waiting:
        return Text("{count} run(s) not finished yet", count=len(waiting))
    return Text("every run that matched succeeded")


# The states of runs and events as people read them (the store and JSON keep the word itself).
STATUSES = {
    "queued": N_("queued"),
    "running": N_("running"),
    "paused": N_("paused"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "accepted": N_("accepted"),
    # a replay's
    "refused": N_("refused"),
    "would replay": N_("would replay"),
    # a step's
    "ok": N_("ok"),
    "skipped": N_("skipped"),
    "ignored": N_("ignored"),
    "uncertain": N_("uncertain"),
    "interrupted": N_("interrupted"),
}


def status_text(status: str) -> str:
    """A run's or an event's state as people read it (a Text; the store keeps the word)."""
    return Text(STATUSES[status]) if status in STATUSES else status


__all__ = [
    "STATUSES",
    "bundle_rows",
    "event_json",
    "explanation",
    "parse_duration",
    "parse_when",
    "run_data",
    "run_json",
    "status_text",
    "step_json",
    "visitor_of",
]
