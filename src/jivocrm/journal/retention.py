"""Automatic journal retention: the daemon calls ``apply_retention`` now and then (hourly is
plenty), ``jivocrm journal prune`` does the same on demand.

Events go together with their runs, step records and not-matched explanations (the store deletes
them in one statement) and the space is given back to the disk. Events with an unfinished run are
kept whatever their age: retention never drops work that is still owed to the CRM.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from jivocrm.engine.model import Project
from jivocrm.store.base import Store

log = structlog.get_logger("jivocrm.retention")
DAY = 86400.0


@dataclass(frozen=True)
class Retention:
    older_than: float | None  # a Unix time: events received before it go
    keep: int | None  # the newest events kept; older ones go

    @property
    def active(self) -> bool:
        return self.older_than is not None or self.keep is not None


def retention_of(project: Project, now: float) -> Retention:
    """The project's ``journal.retention_days`` / ``journal.max_events`` (0 = no limit)."""
    days = project.journal.retention_days
    keep = project.journal.max_events
    return Retention(now - days * DAY if days > 0 else None, keep if keep > 0 else None)


async def prune(store: Store, retention: Retention) -> int:
    """Delete what ``retention`` says (the store gives the space back); events deleted."""
    return await store.prune(older_than=retention.older_than, keep=retention.keep)


async def apply_retention(store: Store, project: Project, now: float) -> int:
    """Prune by the project's age and count limits; returns the number of events deleted."""
    retention = retention_of(project, now)
    if not retention.active:
        return 0
    deleted = await prune(store, retention)
    if deleted:
        log.info("journal_pruned", events=deleted, older_than=retention.older_than)
    return deleted


__all__ = ["Retention", "apply_retention", "prune", "retention_of"]
