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

A message is written twice: in English for the alert webhook's JSON (machines read it), and in the
daemon's language for people (Telegram, e-mail).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from jivocrm.core import i18n
from jivocrm.core.i18n import N_, _, localized, ngettext

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
    title: str  # English, as the alert webhook's JSON carries it
    text: str
    data: dict[str, Any]
    # The same in the language of the daemon, for people (Telegram, e-mail); None: the English.
    read_title: str | None = None
    read_text: str | None = None

    @property
    def shown_title(self) -> str:
        return self.read_title or self.title

    @property
    def shown_text(self) -> str:
        return self.read_text or self.text


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


STATE_TEXT = {
    "connection_unavailable": N_("connection {s} is unavailable: {d}"),
    "connection_recovered": N_("connection {s} recovered"),
    "channel_refusing": N_("channel {s}: deliveries refused: {d}"),
    "channel_recovered": N_("channel {s} delivers again"),
}
# In a title, without the detail.
STATE_TITLE = {
    "connection_unavailable": N_("connection {s} is unavailable"),
    "connection_recovered": N_("connection {s} recovered"),
    "channel_refusing": N_("channel {s}: deliveries refused"),
    "channel_recovered": N_("channel {s} delivers again"),
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
    runs = [_run(a, ui) for a in batch.failures]
    since = batch.first_at or 0.0
    link = f"{ui}/ui/runs?" + urlencode({"status": "failed", "since": _iso(since)})
    reader = i18n.current()
    with i18n.language(i18n.SOURCE):
        title, text = _title(batch), _text(batch, ui, link)
    read_title = read_text = None
    if reader != i18n.SOURCE:
        with i18n.language(reader):
            read_title, read_text = _title(batch), _text(batch, ui, link)
    return Message(title, text, _data(batch, runs, link), read_title, read_text)


def _text(batch: Batch, ui: str, link: str) -> str:
    """The body of the message, in the current language."""
    lines = [
        f"{_when(a.at)} {_(STATE_TEXT[a.kind]).format(s=a.subject, d=localized(a.detail))}"
        f" — {ui}{STATE_PAGE[a.kind].format(s=quote(a.subject))}"
        for a in batch.states
    ]
    if batch.states_dropped:
        more = ngettext(
            "… and {count} more change (see the daemon's log)",
            "… and {count} more changes (see the daemon's log)",
            batch.states_dropped,
        )
        lines.append(more.format(count=batch.states_dropped))
    since = batch.first_at or 0.0
    if batch.failed and not batch.digest:
        for alert in batch.failures:
            values = {
                "run": alert.run_id,
                "bundle": alert.subject,
                "error": alert.detail[:ERROR_SHOWN],
                "count": alert.attempts,
            }
            if alert.lane_held:
                said = _(
                    "run {run} of bundle {bundle} held its chat's lane too long and failed: {error}"
                )
            else:
                said = ngettext(
                    "run {run} of bundle {bundle} failed after {count} attempt: {error}",
                    "run {run} of bundle {bundle} failed after {count} attempts: {error}",
                    alert.attempts or 0,
                )
            lines.append(said.format(**values))
            lines.append(f"  {_hint(alert.run_id)}; {ui}/ui/runs/{alert.run_id}")
    elif batch.digest:
        until = _when(batch.last_at or since)
        failed = ngettext(
            "{count} run failed between {since} and {until}.",
            "{count} runs failed between {since} and {until}.",
            batch.failed,
        )
        lines.append(failed.format(count=batch.failed, since=_when(since), until=until))
        bundles = ", ".join(f"{k} {n}" for k, n in batch.by_bundle.most_common())
        lines.append(_("By bundle: {bundles}").format(bundles=bundles))
        lines.append(_("Most common errors:"))
        lines += [f"  {n}× {error}" for error, n in batch.by_error.most_common(5)]
        first = ", ".join(str(a.run_id) for a in batch.failures)
        lines.append(_("First runs: {runs}").format(runs=first))
        lines.append(
            _(
                "`jivocrm runs list --status failed --since {since}` lists them;"
                " `jivocrm runs replay --failed --since {since}` replays them once the cause"
                " is fixed."
            ).format(since=_iso(since))
        )
        lines.append(link)
    return "\n".join(lines)


def _hint(run_id: int | None) -> str:
    return _("jivocrm runs show {run}; jivocrm runs replay {run} once the cause is fixed").format(
        run=run_id
    )


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
        " cause is fixed",  # English, as the JSON's readers are scripts
        "ui": f"{ui}/ui/runs/{alert.run_id}",
    }


def _title(batch: Batch) -> str:
    """The title, in the current language."""
    parts = []
    if batch.failed == 1:
        failure = batch.failures[0]
        parts.append(
            _("run {run} of {bundle} failed").format(run=failure.run_id, bundle=failure.subject)
        )
    elif batch.failed and batch.digest:
        digest = ngettext(
            "{count} run failed (digest)", "{count} runs failed (digest)", batch.failed
        )
        parts.append(digest.format(count=batch.failed))
    elif batch.failed:
        parts.append(
            ngettext("{count} run failed", "{count} runs failed", batch.failed).format(
                count=batch.failed
            )
        )
    for alert in batch.states[:3]:
        parts.append(_(STATE_TITLE[alert.kind]).format(s=alert.subject))
    if len(batch.states) > 3:
        more = len(batch.states) - 3
        parts.append(
            ngettext("{count} more change", "{count} more changes", more).format(count=more)
        )
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
