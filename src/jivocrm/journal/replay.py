"""Replays of journaled runs: what may be replayed and how, and running a replay here.

A replay is a NEW run linked to the original (``replay_of``) through ``store.replay``: by default it
keeps the original's finished steps — never executed again, their outputs feed the later steps —
so a run that failed at its deal step after creating the contact does not create the contact
twice. ``from_start`` drops them; create steps then rely on their duplicate checks.

Who executes it: a running daemon claims the queued replay like any run. With no daemon,
``execute_here`` does what a daemon worker does, in this process — claim, resume state, runner,
finish — with the project's connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import aiohttp
import structlog

from jivocrm.core.errors import JivoCRMError
from jivocrm.engine.addresses import local_address
from jivocrm.engine.connections import open_connections
from jivocrm.engine.model import Bundle, Project
from jivocrm.engine.runner import Runner
from jivocrm.engine.versions import bundle_at
from jivocrm.journal.execution import Execution
from jivocrm.store.base import UNFINISHED, Run, RunFilter, Store, new_owner

log = structlog.get_logger("jivocrm.replay")

ConfigChoice = Literal["current", "original"]
LEASE = 600.0  # seconds; a CLI replay that dies leaves its runs to the daemon after this
ALL = 1_000_000  # "every run" for the journal's queries, which page by limit


@dataclass(frozen=True)
class Plan:
    run: Run
    from_start: bool
    bundle: Bundle | None
    refused: str | None = None
    note: str | None = None
    pinned: bool = False  # runs with the version the original recorded


def plan_replay(
    project: Project,
    run: Run,
    *,
    from_start: bool,
    config: ConfigChoice,
    force: bool,
    original: Bundle | str | None = None,
) -> Plan:
    """Whether and how ``run`` may be replayed against the project as it is now.

    ``original`` is the run's own bundle version loaded from the store (or why it cannot be),
    for ``config="original"`` when the bundle changed since."""
    bundle = project.bundle(run.bundle)
    if bundle is None:
        return Plan(run, from_start, None, f"bundle {run.bundle!r} is no longer in the project")
    if run.status in UNFINISHED:
        return Plan(run, from_start, bundle, f"run {run.id} is {run.status}: it has not ended yet")
    if not bundle.enabled:
        why = f"bundle {bundle.name!r} is paused (enabled: false); enable it, then replay"
        return Plan(run, from_start, bundle, why)
    changed = bundle.version_hash != run.version_hash
    pinned = config == "original"
    if pinned and changed:
        if not isinstance(original, Bundle):
            why = (
                f"bundle {bundle.name!r} changed since run {run.id} (run version"
                f" {run.version_hash}, now {bundle.version_hash}) and the run's version cannot"
                f" run: {original or 'it is not in the store'}; use --config current"
            )
            return Plan(run, from_start, bundle, why)
        bundle, changed = original, False
    note = None
    if run.status == "succeeded":
        if not force:
            why = f"run {run.id} succeeded; add --force to run it again (duplicate checks apply)"
            return Plan(run, from_start, bundle, why)
        # Every step of a succeeded run is finished: resuming it would do nothing.
        from_start, note = True, "succeeded before: runs again from the start"
    elif changed and not from_start:
        note = "the bundle changed since: finished steps are kept by step id"
    current = project.bundle(run.bundle)
    if pinned and current is not None and current.version_hash != bundle.version_hash:
        note = (
            f"with version {bundle.version_hash}, the run's (the project now has"
            f" {current.version_hash})"
        )
    return Plan(run, from_start, bundle, None, note, pinned)


async def failed_runs(
    store: Store, *, bundle: str | None, since: float | None
) -> tuple[list[Run], int]:
    """Failed runs not yet replayed (oldest first) and how many were skipped as replayed."""
    runs = await store.list_runs(RunFilter(bundle=bundle, limit=ALL))
    replayed = {r.replay_of for r in runs if r.replay_of is not None}
    failed = [r for r in runs if r.status == "failed" and (since is None or r.created_at >= since)]
    todo = [r for r in failed if r.id not in replayed]
    return sorted(todo, key=lambda r: r.id), len(failed) - len(todo)


async def claim(store: Store, run_id: int, owner: str) -> Run | None:
    """Take the lease of one run. The store claims in arrival order only, so take what it gives
    and hand back at once what is not ours. None when the run is not runnable (its lane is busy)."""
    now = time.time()
    taken = await store.claim(owner, now=now, lease=LEASE, limit=ALL)
    ours = [r for r in taken if r.id == run_id]
    others = [r.id for r in taken if r.id != run_id]
    if others:
        await store.release(owner, others)
    return ours[0] if ours else None


async def original_bundle(store: Store, project: Project, run: Run) -> Bundle | str:
    """The bundle version ``run`` was created with, from the store, or why it cannot run."""
    version = await store.bundle_version(run.version_hash)
    if version is None:
        return f"version {run.version_hash} is not in the store"
    try:
        return bundle_at(project, version)
    except JivoCRMError as exc:
        return str(exc)


async def execute_claimed(
    store: Store, project: Project, runner: Runner, run: Run, owner: str
) -> None:
    """What a daemon worker does with a claimed run (``Execution``), without the daemon's
    metrics, reply waiters and alerts."""
    await Execution(store, owner).run(project, runner, run)


async def execute_here(
    store: Store,
    project: Project,
    run_ids: Sequence[int],
    on_done: Callable[[int, Run | None], Awaitable[None] | None] | None = None,
) -> list[Run]:
    """Execute queued runs in this process; returns them as they ended (or stayed queued)."""
    # The daemon's owner format (host, pid): a daemon starting after this process died gives
    # its runs back at once instead of waiting for the lease to expire.
    owner = new_owner()
    async with (
        aiohttp.ClientSession() as session,
        open_connections(project, session) as connectors,
    ):
        runner = Runner(project, connectors, connectors.caches)
        for run_id in run_ids:
            run = await claim(store, run_id, owner)
            if run is not None:
                await execute_claimed(store, project, runner, run, owner)
            if on_done is not None:
                result = on_done(run_id, run)
                if result is not None:
                    await result
    return await store.get_runs(run_ids)


async def daemon_listening(project: Project, patience: float = 1.0) -> str | None:
    """The address of a daemon answering there, or None."""
    url = local_address(project)
    if url is None:
        return None
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=patience)) as session,
            session.get(f"{url}/readyz") as answer,
        ):
            return url if answer.status < 500 else None
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return None


async def wait_ended(store: Store, run_ids: Sequence[int], patience: float) -> list[Run]:
    """Poll until every run has ended or ``patience`` seconds passed; the runs as they are."""
    deadline = time.monotonic() + patience
    while True:
        runs = await store.get_runs(run_ids)
        if all(r.status not in UNFINISHED for r in runs) or time.monotonic() >= deadline:
            return runs
        await asyncio.sleep(0.5)


__all__ = [
    "ConfigChoice",
    "Plan",
    "daemon_listening",
    "execute_claimed",
    "execute_here",
    "failed_runs",
    "original_bundle",
    "plan_replay",
    "wait_ended",
]
