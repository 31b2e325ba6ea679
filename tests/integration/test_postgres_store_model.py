"""The queue part of the store against a model in plain Python, driven by hypothesis.

Random sequences of accept / claim / finish / retry / hold / pause / resume / heartbeat /
requeue / release, on both backends; after every claim the store must hand out exactly the runs
the model says are runnable (the lane predicate, leases, retry times, pauses), and every run's
status must match the model's. Catches claim and lease bugs in seconds that the kill tests would
find only by luck.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from jivocrm.store import open_store
from jivocrm.store.base import Store
from jivocrm.testing.store_contract import PG_DSN_VARIABLE, T0, event, pg_dsn, scratch_schema

T = TypeVar("T")
LANES = ["A", "B", "C"]
OWNERS = ["w1", "w2"]
BUNDLES = ["b", "c"]
LEASE = 10.0


@dataclass
class ModelRun:
    id: int
    lane: str
    bundle: str
    status: str
    retry_at: float
    owner: str | None = None
    expires: float = 0.0


class QueueModel(RuleBasedStateMachine):
    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.ExitStack()
        self.runs: dict[int, ModelRun] = {}
        self.now = T0
        self.store: Store | None = None

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        return self.loop.run_until_complete(make())

    @initialize()
    def open(self) -> None:
        if self.backend == "sqlite":
            folder = Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
            self.store = open_store("sqlite:///model.db", folder)
        else:
            scratch = scratch_schema(pg_dsn())
            url = self.run(scratch.__aenter__)
            self.stack.callback(lambda: self.run(lambda: scratch.__aexit__(None, None, None)))
            self.store = open_store(url, Path("."))
        self.run(self.store.open)

    def teardown(self) -> None:
        if self.store is not None:
            self.run(self.store.close)
        self.stack.close()
        self.loop.close()

    @property
    def s(self) -> Store:
        assert self.store is not None
        return self.store

    # ---- the model's claim -------------------------------------------------------------------
    def runnable(self) -> list[int]:
        out = []
        for run in sorted(self.runs.values(), key=lambda r: r.id):
            if run.status != "queued" or run.retry_at > self.now:
                continue
            blocked = any(
                o.lane == run.lane
                and o.id != run.id
                and (o.status == "running" or (o.status == "queued" and o.id < run.id))
                for o in self.runs.values()
            )
            if not blocked:
                out.append(run.id)
        return out

    def held_by(self, owner: str) -> list[int]:
        return [r.id for r in self.runs.values() if r.status == "running" and r.owner == owner]

    # ---- rules -------------------------------------------------------------------------------
    @rule(lane=st.sampled_from(LANES), bundle=st.sampled_from(BUNDLES), paused=st.booleans())
    def accept(self, lane: str, bundle: str, paused: bool) -> None:
        new = event(secrets.token_hex(8), lane, at=self.now, bundle=bundle, paused=paused)
        (run_id,) = self.run(lambda: self.s.accept(new)).run_ids
        status = "paused" if paused else "queued"
        self.runs[run_id] = ModelRun(run_id, lane, bundle, status, self.now)

    @rule(owner=st.sampled_from(OWNERS), limit=st.integers(1, 3))
    def claim(self, owner: str, limit: int) -> None:
        expected = self.runnable()[:limit]
        got = self.run(lambda: self.s.claim(owner, now=self.now, lease=LEASE, limit=limit))
        assert [r.id for r in got] == expected
        for run_id in expected:
            run = self.runs[run_id]
            run.status, run.owner, run.expires = "running", owner, self.now + LEASE

    @precondition(lambda self: any(r.status == "running" for r in self.runs.values()))
    @rule(data=st.data(), outcome=st.sampled_from(["succeeded", "failed"]))
    def finish(self, data: st.DataObject, outcome: Any) -> None:
        run = data.draw(st.sampled_from([r for r in self.runs.values() if r.status == "running"]))
        owner = data.draw(st.sampled_from([*OWNERS, run.owner]))
        done = self.run(lambda: self.s.finish_run(run.id, owner, status=outcome, ran_hash="v"))
        assert done == (owner == run.owner)
        if done:
            run.status, run.owner = outcome, None

    @precondition(lambda self: any(r.status == "running" for r in self.runs.values()))
    @rule(data=st.data(), delay=st.sampled_from([0.0, 5.0, 30.0]))
    def retry(self, data: st.DataObject, delay: float) -> None:
        run = data.draw(st.sampled_from([r for r in self.runs.values() if r.status == "running"]))
        assert run.owner is not None
        owner = run.owner
        at = self.now + delay
        assert self.run(
            lambda: self.s.retry_run(run.id, owner, retry_at=at, ran_hash="v", error="e")
        )
        run.status, run.owner, run.retry_at = "queued", None, at

    @precondition(lambda self: any(r.status == "running" for r in self.runs.values()))
    @rule(data=st.data())
    def hold(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from([r for r in self.runs.values() if r.status == "running"]))
        assert run.owner is not None
        owner = run.owner
        assert self.run(lambda: self.s.hold_run(run.id, owner))
        run.status, run.owner = "paused", None

    @rule(bundle=st.sampled_from(BUNDLES), paused=st.booleans())
    def pause(self, bundle: str, paused: bool) -> None:
        before, after = ("queued", "paused") if paused else ("paused", "queued")
        changed = self.run(lambda: self.s.set_paused([bundle], paused=paused))
        matching = [r for r in self.runs.values() if r.bundle == bundle and r.status == before]
        assert changed == len(matching)
        for run in matching:
            run.status = after

    @rule(owner=st.sampled_from(OWNERS))
    def heartbeat(self, owner: str) -> None:
        held = self.held_by(owner)
        until = self.now + LEASE
        assert self.run(lambda: self.s.heartbeat(owner, held, until=until)) == len(held)
        for run_id in held:
            self.runs[run_id].expires = until

    @rule(seconds=st.sampled_from([1.0, 4.0, 11.0, 31.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def requeue_expired(self) -> None:
        expired = [r for r in self.runs.values() if r.status == "running" and r.expires < self.now]
        assert self.run(lambda: self.s.requeue_expired(now=self.now)) == len(expired)
        for run in expired:
            run.status, run.owner = "queued", None

    @rule(owner=st.sampled_from(OWNERS))
    def release(self, owner: str) -> None:
        held = self.held_by(owner)
        assert self.run(lambda: self.s.release(owner)) == len(held)
        for run_id in held:
            self.runs[run_id].status, self.runs[run_id].owner = "queued", None

    @invariant()
    def statuses_match(self) -> None:
        if self.store is None or not self.runs:
            return
        stored = self.run(lambda: self.s.get_runs(list(self.runs)))
        assert {r.id: (r.status, r.lease_owner) for r in stored} == {
            r.id: (r.status, r.owner) for r in self.runs.values()
        }


MODEL_SETTINGS = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class SQLiteQueueModel(QueueModel):
    backend = "sqlite"


class PostgresQueueModel(QueueModel):
    backend = "postgres"


SQLiteQueueModel.TestCase.settings = MODEL_SETTINGS
PostgresQueueModel.TestCase.settings = MODEL_SETTINGS
TestSQLiteQueueModel = SQLiteQueueModel.TestCase


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get(PG_DSN_VARIABLE), reason=f"{PG_DSN_VARIABLE} is not set")
class TestPostgresQueueModel(PostgresQueueModel.TestCase):  # type: ignore[misc,name-defined]
    pass
