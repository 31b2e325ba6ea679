"""The answer to Jivo for ``chat_accepted`` / ``chat_updated``: wait (bounded) for the runs whose
bundles have a ``jivo_reply`` step, then merge their replies.

A worker of this process resolves the run's future the moment the run ends; the store is asked as
well (before waiting and then now and then), which covers a run that ended before the waiter was
registered and, with a shared PostgreSQL store, a run that another instance executed. When time
runs out Jivo gets ``{"result": "ok"}`` and the runs go on: their replies are kept with the runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from jivocrm.engine.reply import merge_replies
from jivocrm.store.base import Store

REPLY_EVENTS = frozenset({"chat_accepted", "chat_updated"})
STORE_POLL = 0.25  # seconds between looks at the store while waiting
FINISHED = ("succeeded", "failed")


class ReplyWaiters:
    """Futures for the runs someone is waiting on, resolved by the workers."""

    def __init__(self) -> None:
        self._futures: dict[int, list[asyncio.Future[dict[str, Any] | None]]] = {}

    def register(self, run_id: int) -> asyncio.Future[dict[str, Any] | None]:
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._futures.setdefault(run_id, []).append(future)
        return future

    def discard(self, run_id: int, future: asyncio.Future[dict[str, Any] | None]) -> None:
        waiting = self._futures.get(run_id, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self._futures.pop(run_id, None)

    def resolve(self, run_id: int, reply: dict[str, Any] | None) -> None:
        for future in self._futures.pop(run_id, []):
            if not future.done():
                future.set_result(reply)


async def wait_replies(
    store: Store, waiters: ReplyWaiters, run_ids: Sequence[int], within: float
) -> tuple[dict[str, Any], bool]:
    """(merged reply, complete): ``complete`` is False when the deadline cut the wait short.

    Replies merge in run id order, which is the project's bundle order for one event.
    """
    deadline = time.monotonic() + within
    replies: dict[int, dict[str, Any] | None] = {}
    futures = {run_id: waiters.register(run_id) for run_id in run_ids}
    try:
        while True:
            for run in await store.get_runs([i for i in run_ids if i not in replies]):
                if run.status in FINISHED:
                    replies[run.id] = run.reply
            for run_id, future in futures.items():
                if future.done() and run_id not in replies:
                    replies[run_id] = future.result()
            left = deadline - time.monotonic()
            if len(replies) == len(run_ids) or left <= 0:
                break
            pending = [f for i, f in futures.items() if i not in replies]
            await asyncio.wait(pending, timeout=min(left, STORE_POLL))
    finally:
        for run_id, future in futures.items():
            waiters.discard(run_id, future)
    ordered = [replies.get(run_id) for run_id in sorted(run_ids)]
    return merge_replies(ordered), len(replies) == len(run_ids)


__all__ = ["REPLY_EVENTS", "ReplyWaiters", "wait_replies"]
