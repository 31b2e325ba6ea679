"""The ``Store`` protocol: events, runs, step records and the journal queries, backend-neutral.

Two implementations share this contract: SQLite (the embedded default, ``sqlite.py``) and
PostgreSQL (several daemons on one database). What the protocol promises:

* ``accept`` writes an event, its runs and the not-matched explanations in ONE transaction and
  returns only after the commit; a byte-identical redelivery (same ``dedup_key``) is stored once
  and answered with the first delivery's runs.
* ``claim`` hands out runnable runs under a lease. A run is runnable when it is ``queued``, its
  ``retry_at`` has come, and its lane has no other ``running`` run and no earlier (smaller id)
  ``queued`` run. Arrival order is the id order. Head-of-line: a queued run waiting for its retry
  keeps the later runs of its lane waiting — order matters more than throughput within one chat;
  when the run finally fails, the lane moves on.
* A bundle held at run time (``hold_bundle``) gets its new runs ``paused`` at ``accept`` and its
  queued runs paused at once; ``release_bundle`` queues them again (they run in lane order).
* ``accept`` and ``replay`` keep the bundle version each run was created with (``versions``,
  by hash, stored once); ``prune`` drops the versions no run refers to any more.
* A lease has an owner and an expiry; ``heartbeat`` extends it; ``requeue_expired`` and
  ``release`` put runs back to ``queued``. Every write that ends a run names the owner, so a run
  whose lease was taken over is not finished twice by its old owner.
* Times are Unix seconds (float) passed in by the caller where they decide something, so tests
  move the clock instead of sleeping.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from jivocrm.core.records import StepRecord

EventStatus = Literal["accepted", "ignored"]
RunState = Literal["queued", "running", "paused", "succeeded", "failed"]
UNFINISHED: tuple[RunState, ...] = ("queued", "running", "paused")


@dataclass(frozen=True)
class NewRun:
    bundle: str
    lane: str
    version_hash: str
    paused: bool = False


@dataclass(frozen=True)
class BundleVersion:
    """One version of a bundle file as a run was created with it."""

    hash: str
    bundle: str
    file: str
    source: str


@dataclass(frozen=True)
class BundleHold:
    """A bundle paused at run time, on top of its file's ``enabled``."""

    bundle: str
    held_at: float
    held_by: str
    reason: str = ""


@dataclass(frozen=True)
class NewEvent:
    """What intake hands to ``accept``: the event as received and what matching decided."""

    channel: str
    name: str
    dedup_key: str
    body: bytes  # the raw body, kept as received
    received_at: float
    status: EventStatus = "accepted"
    chat_id: str | None = None
    widget_id: str | None = None
    runs: tuple[NewRun, ...] = ()
    not_matched: tuple[tuple[str, str], ...] = ()  # (bundle, reason)
    versions: tuple[BundleVersion, ...] = ()  # of the runs' bundles, kept for replays


@dataclass(frozen=True)
class Accepted:
    event_id: int
    run_ids: tuple[int, ...]
    duplicate: bool = False
    paused: tuple[int, ...] = ()  # runs created paused (file or runtime hold)


@dataclass(frozen=True)
class Event:
    id: int
    channel: str
    name: str
    status: EventStatus
    received_at: float
    chat_id: str | None
    widget_id: str | None
    dedup_key: str
    body: bytes

    def payload(self) -> Any:
        from jivocrm.core import storable

        return storable.loads(self.body)


@dataclass(frozen=True)
class Run:
    id: int
    event_id: int
    bundle: str
    lane: str
    status: RunState
    attempt: int  # the try that runs (or ran) last, 1-based
    retry_at: float
    created_at: float
    updated_at: float
    version_hash: str  # the bundle version the event matched
    ran_hash: str | None = None  # the bundle version it executed with
    lease_owner: str | None = None
    lease_expires: float | None = None
    error: str | None = None
    reply: dict[str, Any] | None = None
    replay_of: int | None = None
    started_at: float | None = None  # first claimed: since then the run holds its lane
    pinned: bool = False  # runs with the version it recorded, not the project's current one
    # Filled by list_runs for the journal's tables; not stored on the run itself.
    event_name: str | None = None
    channel: str | None = None
    chat_id: str | None = None


@dataclass(frozen=True)
class StepRow:
    run_id: int
    step_id: str
    attempt: int
    status: str  # "started" (no result yet) or a StepRecord status
    record: StepRecord


@dataclass(frozen=True)
class Rejection:
    """A refused delivery; ``body`` is a bounded, redacted excerpt of what was sent."""

    id: int
    channel: str
    reason: str
    received_at: float
    body: bytes
    status: int = 403
    remote: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A refused delivery to record in detail (``Store.record_refusals``)."""

    channel: str
    status: int
    reason: str
    received_at: float
    excerpt: bytes = b""
    remote: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class RefusalCount:
    """Refused requests counted per channel and status; unknown tokens (channel ``""``) per
    remote address."""

    channel: str
    status: int
    count: int
    first_at: float
    last_at: float
    remote: str = ""


@dataclass(frozen=True)
class EventDetail:
    event: Event
    runs: list[Run]
    not_matched: list[tuple[str, str]]  # (bundle, reason)
    steps: dict[int, list[StepRow]] = field(default_factory=dict)  # run id → its steps


@dataclass(frozen=True)
class RunFilter:
    bundle: str | None = None
    status: str | None = None
    chat_id: str | None = None
    channel: str | None = None
    event_name: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class StoreStats:
    runs: dict[tuple[str, str], int]  # (bundle, status) → count of unfinished runs
    queue_depth: int  # queued runs whose time has come
    oldest_waiting: float | None  # created_at of the oldest queued run
    oldest_started: float | None = None  # started_at of the unfinished run that began first


class Store(Protocol):
    """Durable events and runs. Every method is safe to call from any task of one event loop."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (numbered migrations)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise ``StoreError`` when the store cannot answer or cannot write (``/readyz``): it
        writes a few KB and deletes them, so a full disk or a read-only database shows."""

    # ---- intake ------------------------------------------------------------------------------
    async def accept(self, event: NewEvent) -> Accepted: ...

    async def reject(self, channel: str, reason: str, body: bytes, received_at: float) -> None:
        """Record a refused delivery apart from events: it creates no event and no run."""

    async def record_refusals(
        self, detailed: Sequence[Refusal], counts: Sequence[RefusalCount], *, keep: int
    ) -> None:
        """Store refused deliveries and add to their counts in one write; only the newest
        ``keep`` detailed records stay, and only the ``keep`` remotes seen last per channel."""

    async def refusals(
        self, *, channel: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Rejection]:
        """Refused deliveries recorded in detail, newest first."""

    async def get_refusal(self, refusal_id: int) -> Rejection | None: ...

    async def refusal_counts(self) -> list[RefusalCount]:
        """Every refused request counted, by channel, status and (unknown tokens) remote."""

    async def last_refusals(self) -> dict[str, Rejection]:
        """Channel → its newest refused delivery recorded in detail."""

    # ---- queue -------------------------------------------------------------------------------
    async def claim(self, owner: str, *, now: float, lease: float, limit: int = 1) -> list[Run]: ...

    async def heartbeat(self, owner: str, run_ids: Sequence[int], *, until: float) -> int: ...

    async def requeue_expired(self, *, now: float) -> int:
        """Runs left ``running`` under a lease that expired go back to the queue."""

    async def release(self, owner: str, run_ids: Sequence[int] | None = None) -> int:
        """Give runs back to the queue (shutdown); None = every run the owner holds."""

    async def running_owners(self) -> list[str]:
        """The owners holding ``running`` runs (to spot owners whose process is gone)."""

    async def finish_run(
        self,
        run_id: int,
        owner: str,
        *,
        status: Literal["succeeded", "failed"],
        ran_hash: str | None,
        error: str | None = None,
        reply: dict[str, Any] | None = None,
        steps: Sequence[StepRecord] = (),
        attempt: int = 1,
    ) -> bool:
        """End a run the owner holds, with the results of its last steps (of ``attempt``) in
        the same transaction; False when the lease was lost (the run is not ended)."""

    async def retry_run(
        self, run_id: int, owner: str, *, retry_at: float, ran_hash: str | None, error: str
    ) -> bool:
        """Back to the queue for the next attempt at ``retry_at``."""

    async def hold_run(self, run_id: int, owner: str) -> bool:
        """Back to ``paused``: the bundle was paused after the run was queued."""

    async def set_paused(self, bundles: Sequence[str], *, paused: bool) -> int:
        """Queued runs of ``bundles`` → paused (True), or paused runs → queued (False); runs of a
        bundle held at run time stay paused."""

    # ---- runtime holds -----------------------------------------------------------------------
    async def hold_bundle(self, bundle: str, *, by: str, reason: str = "", at: float) -> int:
        """Hold ``bundle`` (idempotent); its queued runs become paused. Returns how many."""

    async def release_bundle(self, bundle: str, *, requeue: bool) -> int:
        """Drop the hold; with ``requeue`` its paused runs queue again. Returns how many."""

    async def holds(self) -> list[BundleHold]: ...

    # ---- bundle versions ---------------------------------------------------------------------
    async def keep_versions(self, versions: Sequence[BundleVersion]) -> None:
        """Store versions not stored yet (a version is stored once, by hash)."""

    async def bundle_version(self, version_hash: str) -> BundleVersion | None: ...

    # ---- journal -----------------------------------------------------------------------------
    async def step_started(
        self, run_id: int, step_id: str, attempt: int, input: dict[str, Any]
    ) -> None: ...

    async def step_finished(self, run_id: int, attempt: int, record: StepRecord) -> None: ...

    async def steps_finished(
        self, run_id: int, attempt: int, records: Sequence[StepRecord]
    ) -> None:
        """The results of several steps (one CRM call made them all) in one transaction."""

    async def steps(self, run_id: int) -> list[StepRow]: ...

    async def get_run(self, run_id: int) -> Run | None: ...

    async def get_runs(self, run_ids: Sequence[int]) -> list[Run]: ...

    async def get_event(self, event_id: int) -> Event | None: ...

    async def event_detail(self, event_id: int) -> EventDetail | None: ...

    async def not_matched(self, event_id: int) -> list[tuple[str, str]]: ...

    async def list_runs(self, flt: RunFilter) -> list[Run]:
        """Newest first."""

    async def list_events(
        self,
        *,
        chat_id: str | None = None,
        channel: str | None = None,
        matched: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Event]:
        """Newest first; ``matched`` True = events that started a run, False = none."""

    async def rejections(self, limit: int = 100) -> list[Rejection]: ...

    async def last_event_at(self) -> dict[str, float]:
        """Channel → when its last event arrived."""

    async def replay(
        self,
        run_id: int,
        *,
        from_start: bool,
        version_hash: str,
        version: BundleVersion | None = None,
        pinned: bool = False,
    ) -> int:
        """A new queued run linked to ``run_id`` (paused when its bundle is held); unless
        ``from_start`` it keeps the finished steps of the original (never executed again).
        ``version`` is stored with it; ``pinned`` runs it with that version whatever the
        project holds by then."""

    async def prune(self, *, older_than: float | None, keep: int | None) -> int:
        """Delete finished events (with runs and steps) older than a time or beyond the newest
        ``keep``, the refused deliveries older than that time and the bundle versions no run
        refers to, then give the space back; returns the number of events deleted."""

    async def stats(self, *, now: float) -> StoreStats: ...


__all__ = [
    "UNFINISHED",
    "Accepted",
    "BundleHold",
    "BundleVersion",
    "Event",
    "EventDetail",
    "EventStatus",
    "NewEvent",
    "NewRun",
    "Refusal",
    "RefusalCount",
    "Rejection",
    "Run",
    "RunFilter",
    "RunState",
    "StepRow",
    "Store",
    "StoreStats",
]


def new_owner() -> str:
    """A lease owner id: host and pid (to tell a dead process on this host), plus a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
