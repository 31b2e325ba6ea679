"""One event through the whole project in-process: match every bundle, run the matched ones.

What ``jivocrm run`` and ``jivocrm test`` share. The daemon does the same through its store and
workers; here runs execute at once, in project order, with a memory journal.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jivocrm.connectors.base import Connector
from jivocrm.connectors.cache import ConnectionCache
from jivocrm.core.records import MemoryJournal, RunOutcome
from jivocrm.engine.events import JivoEvent
from jivocrm.engine.matching import Match, match
from jivocrm.engine.model import Channel, Project
from jivocrm.engine.reply import merge_replies
from jivocrm.engine.runner import Runner


@dataclass
class BundleRun:
    match: Match
    outcome: RunOutcome | None = None  # None: not matched, paused or not selected
    note: str | None = None


@dataclass
class EventReport:
    event: JivoEvent
    runs: list[BundleRun] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=lambda: {"result": "ok"})

    @property
    def ok(self) -> bool:
        return all(r.outcome is None or r.outcome.status == "succeeded" for r in self.runs)


def channel_of(project: Project, event: JivoEvent) -> Channel | None:
    return next((c for c in project.channels.values() if c.widget_id == event.widget_id), None)


async def process_event(
    project: Project,
    payload: Mapping[str, Any],
    connectors: Mapping[str, Connector],
    caches: Mapping[str, ConnectionCache] | None = None,
    *,
    only: str | None = None,
    dry_run: bool = False,
) -> EventReport:
    """Match and run; ``only`` restricts the runs to one bundle (the others still explain)."""
    event = project.parse(payload)
    report = EventReport(event)
    runner = Runner(project, connectors, caches)
    replies = []
    for found in match(project, event, channel_of(project, event)):
        run = BundleRun(found)
        report.runs.append(run)
        if not found.matched:
            continue
        if only is not None and found.bundle.name != only:
            run.note = "not selected (--bundle)"
            continue
        if found.paused and only is None:
            run.note = "paused: the daemon holds the event until the bundle is enabled"
            continue
        info = {"id": uuid.uuid4().hex[:12], "attempt": 1, "lane": found.lane}
        run.outcome = await runner.execute(
            found.bundle, event, journal=MemoryJournal(), dry_run=dry_run, run_info=info
        )
        if run.outcome.reply:
            replies.append(run.outcome.reply)
    report.reply = merge_replies(replies)
    return report


__all__ = ["BundleRun", "EventReport", "process_event"]
