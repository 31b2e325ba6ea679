"""Alerts grouped into messages: one message for a burst, a digest under a storm.

The policy is the one alerting systems use (a wait to gather a burst, then at most one message per
interval), as a pure object on a clock the caller passes in, so its tests move time instead of
sleeping:

* the first alert after a quiet spell waits ``group_wait`` seconds for the rest of its burst;
* after a message, the next one goes out no sooner than ``group_interval`` later, carrying
  everything that came meanwhile;
* a message with more failed runs than ``LISTED`` is a digest: counts by bundle and by error, the
  first runs, and where to see them all — so a storm of any size costs one message per interval.

State changes (a connection unavailable or recovered, a channel refused or delivering again) ride
in the same messages; the daemon reports each change once (the Home Assistant rule), so a message
says "unavailable" once and "recovered" once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

Kind = Literal[
    "run_failed",
    "connection_unavailable",
    "connection_recovered",
    "channel_refusing",
    "channel_recovered",
]
LISTED = 10  # failed runs named one by one; past this a message is a digest
KEYS = 20  # distinct bundles / errors counted by name; the rest are "other"
STATES = 50  # state changes kept per message
ERROR_SHOWN = 300


@dataclass(frozen=True)
class Alert:
    kind: Kind
    subject: str  # the bundle, connection or channel
    detail: str  # the error, or what changed
    at: float  # Unix seconds
    run_id: int | None = None
    event_id: int | None = None
    attempts: int | None = None
    lane_held: bool = False  # failed for holding its chat's lane past retry.max_lane_hold


@dataclass
class Batch:
    """What one message will say; bounded whatever comes in."""

    failures: list[Alert] = field(default_factory=list)
    failed: int = 0
    by_bundle: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    states: list[Alert] = field(default_factory=list)
    states_dropped: int = 0
    first_at: float | None = None
    last_at: float | None = None

    def add(self, alert: Alert) -> None:
        self.first_at = alert.at if self.first_at is None else min(self.first_at, alert.at)
        self.last_at = alert.at if self.last_at is None else max(self.last_at, alert.at)
        if alert.kind != "run_failed":
            if len(self.states) < STATES:
                self.states.append(alert)
            else:
                self.states_dropped += 1
            return
        self.failed += 1
        if len(self.failures) < LISTED:
            self.failures.append(alert)
        _count(self.by_bundle, alert.subject)
        _count(self.by_error, alert.detail[:ERROR_SHOWN])

    @property
    def digest(self) -> bool:
        return self.failed > LISTED


def _count(counter: Counter[str], key: str) -> None:
    if key in counter or len(counter) < KEYS:
        counter[key] += 1
    else:
        counter["other"] += 1


class Grouping:
    """When the next message goes out, and what it carries. ``now`` is any monotonic clock."""

    def __init__(self, wait: float, interval: float) -> None:
        self.wait = wait
        self.interval = interval
        self.pending: Batch | None = None
        self._first: float | None = None  # when the pending batch began, on the caller's clock
        self._sent: float | None = None

    def add(self, alert: Alert, now: float) -> None:
        if self.pending is None:
            self.pending, self._first = Batch(), now
        self.pending.add(alert)

    def due(self) -> float | None:
        """The clock time the pending batch may go out, or None when nothing waits."""
        if self.pending is None or self._first is None:
            return None
        ready = self._first + self.wait
        return ready if self._sent is None else max(ready, self._sent + self.interval)

    def take(self, now: float, *, force: bool = False) -> Batch | None:
        """The batch, when it is due (or ``force``: shutting down)."""
        due = self.due()
        if due is None or (due > now and not force):
            return None
        batch, self.pending, self._first, self._sent = self.pending, None, None, now
        return batch


# ---- what a message says ---------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    title: str
    text: str
    data: dict[str, Any]


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


STATE_TEXT = {
    "connection_unavailable": "connection {s} is unavailable: {d}",
    "connection_recovered": "connection {s} recovered",
    "channel_refusing": "channel {s}: deliveries refused: {d}",
    "channel_recovered": "channel {s} delivers again",
}
# Where to look: runs wait (queued, retrying) while a connection is down; a channel's page has
# its refused deliveries.
STATE_PAGE = {
    "connection_unavailable": "/ui/runs?status=queued",
    "connection_recovered": "/ui/runs?status=queued",
    "channel_refusing": "/ui/refused?channel={s}",
    "channel_recovered": "/ui/channels#{s}",
}


def render(batch: Batch, ui: str) -> Message:
    """The message for ``batch``; ``ui`` is the daemon's address as people reach it."""
    lines = [
        f"{_when(a.at)} {STATE_TEXT[a.kind].format(s=a.subject, d=a.detail)}"
        f" — {ui}{STATE_PAGE[a.kind].format(s=quote(a.subject))}"
        for a in batch.states
    ]
    if batch.states_dropped:
        lines.append(f"… and {batch.states_dropped} more changes (see the daemon's log)")
    runs = [_run(a, ui) for a in batch.failures]
    since = batch.first_at or 0.0
    link = f"{ui}/ui/runs?" + urlencode({"status": "failed", "since": _iso(since)})
    if batch.failed and not batch.digest:
        for alert, run in zip(batch.failures, runs, strict=True):
            how = (
                "held its chat's lane too long and failed"
                if alert.lane_held
                else f"failed after {alert.attempts} attempt(s)"
            )
            lines.append(
                f"run {alert.run_id} of bundle {alert.subject} {how}: {alert.detail[:ERROR_SHOWN]}"
            )
            lines.append(f"  {run['hint']}; {run['ui']}")
    elif batch.digest:
        until = _when(batch.last_at or since)
        lines.append(f"{batch.failed} runs failed between {_when(since)} and {until}.")
        bundles = batch.by_bundle.most_common()
        lines.append("By bundle: " + ", ".join(f"{k} {n}" for k, n in bundles))
        lines.append("Most common errors:")
        lines += [f"  {n}× {error}" for error, n in batch.by_error.most_common(5)]
        lines.append("First runs: " + ", ".join(str(a.run_id) for a in batch.failures))
        lines.append(
            f"`jivocrm runs list --status failed --since {_iso(since)}` lists them;"
            f" `jivocrm runs replay --failed --since {_iso(since)}` replays them once the cause"
            " is fixed."
        )
        lines.append(link)
    return Message(_title(batch), "\n".join(lines), _data(batch, runs, link))


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%dT%H:%M:%S")


def _run(alert: Alert, ui: str) -> dict[str, Any]:
    return {
        "run_id": alert.run_id,
        "event_id": alert.event_id,
        "bundle": alert.subject,
        "attempts": alert.attempts,
        "lane_held": alert.lane_held,
        "error": alert.detail[:ERROR_SHOWN],
        "at": _when(alert.at),
        "hint": f"jivocrm runs show {alert.run_id}; jivocrm runs replay {alert.run_id} once the"
        " cause is fixed",
        "ui": f"{ui}/ui/runs/{alert.run_id}",
    }


def _title(batch: Batch) -> str:
    parts = []
    if batch.failed == 1:
        parts.append(f"run {batch.failures[0].run_id} of {batch.failures[0].subject} failed")
    elif batch.failed:
        parts.append(f"{batch.failed} runs failed" + (" (digest)" if batch.digest else ""))
    for alert in batch.states[:3]:
        parts.append(STATE_TEXT[alert.kind].format(s=alert.subject, d="").rstrip(": "))
    if len(batch.states) > 3:
        parts.append(f"{len(batch.states) - 3} more changes")
    return "jivocrm: " + "; ".join(parts)


def _data(batch: Batch, runs: list[dict[str, Any]], link: str) -> dict[str, Any]:
    return {
        "alert": "runs_failed" if batch.failed else "state_changed",
        "failed": batch.failed,
        "digest": batch.digest,
        "runs": runs,
        "by_bundle": dict(batch.by_bundle),
        "by_error": dict(batch.by_error.most_common(5)),
        "changes": [
            {"kind": a.kind, "subject": a.subject, "detail": a.detail, "at": _when(a.at)}
            for a in batch.states
        ],
        "ui": link if batch.failed else None,
        "first_at": _when(batch.first_at) if batch.first_at else None,
        "last_at": _when(batch.last_at) if batch.last_at else None,
    }


__all__ = ["LISTED", "Alert", "Batch", "Grouping", "Kind", "Message", "render"]
