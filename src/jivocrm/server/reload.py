"""Reload: validate the project again, then swap it in whole; an invalid project changes nothing.

Triggered by SIGHUP and, with ``--watch``, by a change of the project's files. What a reload
cannot change while running (the listening address, the store, the connections: emulators and
OAuth state live in them) is reported as needing a restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from jivocrm.core.errors import JivoCRMError
from jivocrm.engine.model import Project
from jivocrm.engine.project import bundle_files, find_project_file, load_project
from jivocrm.server.state import Daemon, build_view

log = structlog.get_logger("jivocrm.reload")

RESTART_ONLY = ("server", "store", "connections")
WATCH_EVERY = 1.0


async def reload(daemon: Daemon, path: Path) -> bool:
    project, problems = await asyncio.to_thread(load_project, path)
    if project is None:
        for problem in problems:
            if problem.severity == "error":
                log.error("reload_invalid", diagnostic=problem.format())
        log.error("reload_rejected", errors=len(problems), kept=daemon.project.file.name)
        return False
    # A daemon started on its project's environment reads the project's .env again; one given
    # an environment of its own (tests, embedding) keeps it.
    own = daemon.environ is daemon.view.project.environ
    environ = project.environ if own else daemon.environ
    try:
        view = build_view(project, daemon.connections, environ)
    except JivoCRMError as exc:
        log.error("reload_rejected", error=str(exc))
        return False
    old = daemon.view.project
    daemon.view = view  # the swap: one assignment, seen whole by every later request and run
    daemon.environ = environ
    daemon.redactor.update(view.secrets, project.journal.redact_personal_data)
    await sync_paused(daemon, project)
    for key in RESTART_ONLY:
        if project.raw.get(key) != old.raw.get(key):
            log.warning("reload_needs_restart", section=key)
    changed = sorted(b.name for b in project.bundles if (o := old.bundle(b.name)) is None or o != b)
    log.info("project_reloaded", bundles=len(project.bundles), changed=changed)
    daemon.wake.set()
    return True


async def sync_paused(daemon: Daemon, project: Project) -> None:
    """Runs of paused bundles wait as "paused"; those of enabled bundles go (back) to the queue."""
    enabled = [b.name for b in project.bundles if b.enabled]
    paused = [b.name for b in project.bundles if not b.enabled]
    resumed = await daemon.store.set_paused(enabled, paused=False)
    held = await daemon.store.set_paused(paused, paused=True)
    if resumed or held:
        log.info("paused_runs_synced", resumed=resumed, held=held)


def snapshot(path: Path) -> dict[Path, float]:
    """mtimes of the project file and its bundle files (a new or deleted file counts too)."""
    file = find_project_file(path)
    files = [file]
    project = None
    try:
        from jivocrm.engine.loader import load_file, plain

        doc, _ = load_file(file, file.name)
        project = plain(doc.data) if doc is not None else None
    except Exception:  # a half-written file: the next look will see it whole
        project = None
    spec = project.get("bundles") if isinstance(project, dict) else None
    files += bundle_files(file.parent, spec)
    found = {}
    for item in files:
        try:
            found[item] = item.stat().st_mtime
        except OSError:
            continue
    return found


async def watch(daemon: Daemon, path: Path, every: float = WATCH_EVERY) -> None:
    """Reload whenever the project's files change (polling: no extra dependency, any FS)."""
    seen = await asyncio.to_thread(snapshot, path)
    while True:
        await asyncio.sleep(every)
        now = await asyncio.to_thread(snapshot, path)
        if now != seen:
            seen = now
            log.info("project_changed", files=len(now))
            await reload(daemon, path)


__all__ = ["reload", "snapshot", "sync_paused", "watch"]
