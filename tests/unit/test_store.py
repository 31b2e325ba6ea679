"""The SQLite store against the Store contract: intake, dedup, lanes, leases, journal, queries."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jivocrm.core.records import StepRecord
from jivocrm.store import open_store
from jivocrm.store.base import NewEvent, NewRun, RunFilter, Store
from jivocrm.store.journal import resume_state
from jivocrm.store.sqlite import SQLiteStore

T0 = 1_700_000_000.0
LEASE = 30.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = open_store("sqlite:///db/jivocrm.db", tmp_path)
    await s.open()
    yield s
    await s.close()


def event(body: str, *lanes: str, paused: bool = False, at: float = T0, **kw: str) -> NewEvent:
    raw = body.encode()
    return NewEvent(
        channel=kw.get("channel", "shop"),
        name=kw.get("name", "chat_finished"),
        dedup_key=hashlib.sha256(b"shop\0" + raw).hexdigest(),
        body=raw,
        received_at=at,
        chat_id=kw.get("chat"),
        runs=tuple(NewRun(kw.get("bundle", "b"), lane, "v1", paused) for lane in lanes),
        not_matched=(("other", "event is chat_finished; the bundle runs on chat_accepted"),),
    )


async def claim_ids(store: Store, now: float = T0, owner: str = "w1") -> list[int]:
    return [r.id for r in await store.claim(owner, now=now, lease=LEASE, limit=10)]


async def test_accept_stores_event_runs_and_explanations(store: Store) -> None:
    accepted = await store.accept(event('{"n": 1}', "chat:1"))
    detail = await store.event_detail(accepted.event_id)
    assert detail is not None
    assert (detail.event.payload(), [r.id for r in detail.runs], detail.not_matched) == (
        {"n": 1},
        list(accepted.run_ids),
        [("other", "event is chat_finished; the bundle runs on chat_accepted")],
    )


async def test_a_byte_identical_redelivery_is_stored_once(store: Store) -> None:
    first = await store.accept(event('{"n": 1}', "chat:1"))
    again = await store.accept(event('{"n": 1}', "chat:1"))
    assert (again.duplicate, again.event_id, again.run_ids) == (
        True,
        first.event_id,
        first.run_ids,
    )
    assert len(await store.list_runs(RunFilter())) == 1


async def test_concurrent_redeliveries_make_one_event(store: Store) -> None:
    results = await asyncio.gather(*(store.accept(event("{}", "chat:1")) for _ in range(10)))
    assert len({r.event_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1


async def test_claim_takes_only_the_head_of_each_lane(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    a2 = (await store.accept(event("2", "A"))).run_ids[0]
    b1 = (await store.accept(event("3", "B"))).run_ids[0]
    assert await claim_ids(store) == [a1, b1]
    assert await claim_ids(store) == []
    await store.finish_run(a1, "w1", status="succeeded", ran_hash="v1")
    assert await claim_ids(store) == [a2]


async def test_a_run_waiting_for_its_retry_holds_its_lane(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    await store.accept(event("2", "A"))
    b1 = (await store.accept(event("3", "B"))).run_ids[0]
    await claim_ids(store)
    await store.retry_run(a1, "w1", retry_at=T0 + 60, ran_hash="v1", error="503")
    await store.finish_run(b1, "w1", status="succeeded", ran_hash="v1")
    assert await claim_ids(store, now=T0 + 1) == []
    assert await claim_ids(store, now=T0 + 61) == [a1]


async def test_a_failed_run_frees_its_lane(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    a2 = (await store.accept(event("2", "A"))).run_ids[0]
    await claim_ids(store)
    await store.finish_run(a1, "w1", status="failed", ran_hash="v1", error="fatal")
    assert await claim_ids(store) == [a2]


async def test_retry_counts_attempts(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    await claim_ids(store)
    await store.retry_run(a1, "w1", retry_at=T0, ran_hash="v1", error="503")
    run = await store.get_run(a1)
    assert run is not None
    assert (run.status, run.attempt, run.error, run.lease_owner) == ("queued", 2, "503", None)


async def test_an_expired_lease_returns_the_run_to_the_queue(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    await claim_ids(store, owner="dead")
    assert await store.requeue_expired(now=T0 + LEASE / 2) == 0
    assert await store.requeue_expired(now=T0 + LEASE + 1) == 1
    assert await claim_ids(store, now=T0 + LEASE + 1, owner="alive") == [a1]


async def test_the_old_owner_cannot_finish_a_run_taken_over(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    await claim_ids(store, owner="slow")
    await store.requeue_expired(now=T0 + LEASE + 1)
    await claim_ids(store, now=T0 + LEASE + 1, owner="fast")
    assert not await store.finish_run(a1, "slow", status="succeeded", ran_hash="v1")
    assert await store.finish_run(a1, "fast", status="succeeded", ran_hash="v1")


async def test_heartbeat_extends_the_lease(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    await claim_ids(store)
    await store.heartbeat("w1", [a1], until=T0 + 3 * LEASE)
    assert await store.requeue_expired(now=T0 + 2 * LEASE) == 0


async def test_release_gives_an_owners_runs_back(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    await claim_ids(store, owner="w1")
    assert await store.running_owners() == ["w1"]
    assert await store.release("w1") == 1
    assert await claim_ids(store, owner="w2") == [a1]


async def test_paused_runs_wait_until_their_bundle_is_resumed(store: Store) -> None:
    a1 = (await store.accept(event("1", "A", paused=True))).run_ids[0]
    assert await claim_ids(store) == []
    assert await store.set_paused(["b"], paused=False) == 1
    assert await claim_ids(store) == [a1]


async def test_resume_state_skips_finished_steps_and_marks_started_ones(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    await store.step_finished(a1, 1, StepRecord("operator", "ok", output={"id": "1"}))
    await store.step_started(a1, "contact", 1, {"name": "Анна"})
    await store.step_finished(a1, 1, StepRecord("deal", "failed", error_kind="retriable"))
    done, resumed = resume_state(await store.steps(a1))
    assert (sorted(done), resumed) == (["operator"], {"contact"})


async def test_list_runs_filters_newest_first(store: Store) -> None:
    await store.accept(event("1", "A", chat="1", name="chat_accepted"))
    await store.accept(event("2", "B", chat="2"))
    await store.accept(event("3", "A", chat="1"))
    runs = await store.list_runs(RunFilter(chat_id="1"))
    assert [r.event_name for r in runs] == ["chat_finished", "chat_accepted"]


async def test_replay_keeps_the_finished_steps_of_the_original(store: Store) -> None:
    a1 = (await store.accept(event("1", "A"))).run_ids[0]
    await store.step_finished(a1, 1, StepRecord("contact", "ok", output={"id": "7"}))
    await store.step_finished(a1, 1, StepRecord("deal", "failed", error="fatal"))
    new = await store.replay(a1, from_start=False, version_hash="v2")
    run = await store.get_run(new)
    assert run is not None
    assert (run.replay_of, [s.step_id for s in await store.steps(new)]) == (a1, ["contact"])


async def test_prune_deletes_old_finished_events_and_shrinks_the_file(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "j.db")
    await store.open()
    filler = "x" * 4000
    for n in range(300):
        ids = (await store.accept(event(f'{{"n": {n}, "f": "{filler}"}}', f"L{n}"))).run_ids
        await store.claim("w", now=T0, lease=LEASE, limit=1)
        await store.finish_run(ids[0], "w", status="succeeded", ran_hash="v1")
    before = (tmp_path / "j.db").stat().st_size
    assert await store.prune(older_than=T0 + 1, keep=None) == 300
    await store.close()
    assert (tmp_path / "j.db").stat().st_size < before / 4


async def test_writes_of_the_same_moment_share_a_commit(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "j.db")
    await store.open()
    await asyncio.gather(*(store.accept(event(str(n), f"L{n}")) for n in range(200)))
    writes, commits = store.db.writes, store.db.commits
    await store.close()
    assert commits < writes / 4


async def test_stats_count_the_waiting_queue(store: Store) -> None:
    await store.accept(event("1", "A", at=T0))
    await store.accept(event("2", "B", at=T0 + 5))
    stats = await store.stats(now=T0 + 10)
    assert (stats.queue_depth, stats.oldest_waiting, stats.runs) == (2, T0, {("b", "queued"): 2})
