"""The store contract: what every ``Store`` implementation must do, written from its Protocol.

One suite, every backend. To run it on a store, subclass ``StoreContract`` in a test module and
provide a ``store`` fixture yielding an opened, empty store (closed after the test)::

    class TestStoreContract(StoreContract):
        @pytest.fixture(params=["sqlite", "postgres"])
        async def store(self, request, tmp_path): ...

``tests/integration/test_store_contract.py`` does that for SQLite and PostgreSQL. Times are
passed in (``T0`` onwards), never read from the clock, so no test sleeps. PostgreSQL tests use
``scratch_schema`` (or ``scratch_database`` where advisory locks matter): a schema or database
of their own, dropped afterwards, so parallel runs never meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from jivocrm.core.records import StepRecord
from jivocrm.store.base import NewEvent, NewRun, Run, RunFilter, Store
from jivocrm.store.journal import resume_state

T0 = 1_700_000_000.0
LEASE = 30.0
PG_DSN_VARIABLE = "JIVOCRM_TEST_PG_DSN"
NOT_MATCHED = ("other", "event is chat_finished; the bundle runs on chat_accepted")


def event(
    body: str | bytes,
    *lanes: str,
    at: float = T0,
    bundle: str = "b",
    paused: bool = False,
    channel: str = "shop",
    name: str = "chat_finished",
    chat: str | None = None,
) -> NewEvent:
    """An event with one run per lane (all of ``bundle``); the dedup key is the body's hash."""
    raw = body.encode() if isinstance(body, str) else body
    return NewEvent(
        channel=channel,
        name=name,
        dedup_key=hashlib.sha256(channel.encode() + b"\0" + raw).hexdigest(),
        body=raw,
        received_at=at,
        chat_id=chat,
        runs=tuple(NewRun(bundle, lane, "v1", paused) for lane in lanes),
        not_matched=(NOT_MATCHED,),
    )


async def run_in(store: Store, lane: str, body: str | None = None, **kw: Any) -> int:
    """Accept an event with one run in ``lane``; its run id."""
    accepted = await store.accept(event(body or secrets.token_hex(8), lane, **kw))
    return accepted.run_ids[0]


async def claim_ids(
    store: Store, now: float = T0, owner: str = "w1", limit: int = 10, lease: float = LEASE
) -> list[int]:
    return [r.id for r in await store.claim(owner, now=now, lease=lease, limit=limit)]


async def must_get(store: Store, run_id: int) -> Run:
    run = await store.get_run(run_id)
    assert run is not None, f"run {run_id} is missing"
    return run


async def finish(store: Store, run_ids: Sequence[int], owner: str = "w1") -> None:
    for run_id in run_ids:
        assert await store.finish_run(run_id, owner, status="succeeded", ran_hash="v1")


# ---- PostgreSQL scratch databases -----------------------------------------------------------
def pg_dsn() -> str:
    """The test server's DSN, or skip the test saying how to get one."""
    dsn = os.environ.get(PG_DSN_VARIABLE)
    if not dsn:
        pytest.skip(
            f"{PG_DSN_VARIABLE} is not set: PostgreSQL tests need a server, e.g. "
            f"{PG_DSN_VARIABLE}=postgresql://postgres@127.0.0.1:5432/test (.ci/run sets it)"
        )
    return dsn


def _with_database(dsn: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def scratch_database(dsn: str) -> AsyncIterator[str]:
    """A new empty database on the server of ``dsn`` (its URL), dropped when the block ends."""
    import psycopg

    name = f"jivocrm_test_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute(f"CREATE DATABASE {name}".encode())
    try:
        yield _with_database(dsn, name)
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            # FORCE: a test that failed may have left a pool connected.
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


@contextlib.asynccontextmanager
async def scratch_schema(dsn: str) -> AsyncIterator[str]:
    """A new empty schema in the database of ``dsn``: a store URL whose tables live there.

    Much faster than a database per test (no copy of template1), for tests that use tables
    only; advisory locks are per database, so tests of locks take ``scratch_database``.
    """
    import psycopg

    name = f"jivocrm_test_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute(f"CREATE SCHEMA {name}".encode())
    separator = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{separator}options=-csearch_path%3D{name}"
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE".encode())


class StoreContract:
    """Every test takes the ``store`` fixture of the subclass: an opened, empty store."""

    # ---- intake --------------------------------------------------------------------------
    async def test_accept_keeps_the_event_as_received(self, store: Store) -> None:
        body = '{"chat_id": 7, "visitor": {"name": "Анна"}}'.encode()
        accepted = await store.accept(event(body, "chat:7", chat="7"))
        stored = await store.get_event(accepted.event_id)
        assert stored is not None
        assert (stored.body, stored.payload()["visitor"]["name"], stored.chat_id) == (
            body,
            "Анна",
            "7",
        )

    async def test_accept_keeps_a_body_byte_for_byte(self, store: Store) -> None:
        body = b'{"text": "\\u0000 nul"}\xff\x00'
        accepted = await store.accept(event(body, "A"))
        stored = await store.get_event(accepted.event_id)
        assert (stored.body if stored else None) == body

    async def test_accept_stores_runs_and_explanations_together(self, store: Store) -> None:
        accepted = await store.accept(event("{}", "chat:1", "chat:2"))
        detail = await store.event_detail(accepted.event_id)
        assert detail is not None
        assert ([r.id for r in detail.runs], detail.not_matched) == (
            list(accepted.run_ids),
            [NOT_MATCHED],
        )

    async def test_new_runs_are_queued_at_the_time_of_receipt(self, store: Store) -> None:
        run = await must_get(store, await run_in(store, "A", at=T0 + 3))
        assert (run.status, run.attempt, run.retry_at, run.lease_owner) == (
            "queued",
            1,
            T0 + 3,
            None,
        )

    async def test_a_redelivery_is_stored_once(self, store: Store) -> None:
        await store.accept(event('{"n": 1}', "chat:1"))
        await store.accept(event('{"n": 1}', "chat:1"))
        assert len(await store.list_runs(RunFilter())) == 1

    async def test_a_redelivery_is_answered_with_the_first_delivery(self, store: Store) -> None:
        first = await store.accept(event('{"n": 1}', "chat:1"))
        again = await store.accept(event('{"n": 1}', "chat:1"))
        assert (again.duplicate, again.event_id, again.run_ids) == (
            True,
            first.event_id,
            first.run_ids,
        )

    async def test_concurrent_redeliveries_make_one_event(self, store: Store) -> None:
        results = await asyncio.gather(*(store.accept(event("{}", "chat:1")) for _ in range(10)))
        assert (len({r.event_id for r in results}), sum(not r.duplicate for r in results)) == (
            1,
            1,
        )

    async def test_an_ignored_event_is_kept_without_runs(self, store: Store) -> None:
        ignored = NewEvent("shop", "chat_rated", "k-ignored", b"{}", T0, status="ignored")
        accepted = await store.accept(ignored)
        stored = await store.get_event(accepted.event_id)
        assert (accepted.run_ids, stored.status if stored else None) == ((), "ignored")

    async def test_a_rejection_creates_no_event(self, store: Store) -> None:
        await store.reject("shop", "widget of another channel", b"{}", T0)
        assert (len(await store.rejections()), await store.list_events()) == (1, [])

    async def test_rejections_are_listed_newest_first(self, store: Store) -> None:
        await store.reject("shop", "first", b"1", T0)
        await store.reject("shop", "second", b"2", T0 + 1)
        assert [r.reason for r in await store.rejections()] == ["second", "first"]

    # ---- claims and lanes ----------------------------------------------------------------
    async def test_claim_takes_the_head_of_each_lane_in_arrival_order(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await run_in(store, "A")
        b1 = await run_in(store, "B")
        assert await claim_ids(store) == [a1, b1]

    async def test_a_lane_with_a_running_run_gives_nothing_more(self, store: Store) -> None:
        await run_in(store, "A")
        await run_in(store, "A")
        await claim_ids(store)
        assert await claim_ids(store) == []

    async def test_the_next_run_of_a_lane_follows_when_the_head_ends(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        a2 = await run_in(store, "A")
        await claim_ids(store)
        await finish(store, [a1])
        assert await claim_ids(store) == [a2]

    async def test_claim_hands_out_at_most_limit_runs(self, store: Store) -> None:
        for lane in "ABCDE":
            await run_in(store, lane)
        assert len(await claim_ids(store, limit=3)) == 3

    async def test_claim_sets_the_lease(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store, owner="w9", now=T0 + 1, lease=5)
        run = await must_get(store, a1)
        assert (run.status, run.lease_owner, run.lease_expires) == ("running", "w9", T0 + 6)

    async def test_a_run_waiting_for_its_retry_holds_its_lane(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await run_in(store, "A")
        await claim_ids(store)
        await store.retry_run(a1, "w1", retry_at=T0 + 60, ran_hash="v1", error="503")
        assert await claim_ids(store, now=T0 + 1) == []

    async def test_a_retry_is_claimed_when_its_time_comes(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await run_in(store, "A")
        await claim_ids(store)
        await store.retry_run(a1, "w1", retry_at=T0 + 60, ran_hash="v1", error="503")
        assert await claim_ids(store, now=T0 + 61) == [a1]

    async def test_a_failed_run_frees_its_lane(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        a2 = await run_in(store, "A")
        await claim_ids(store)
        await store.finish_run(a1, "w1", status="failed", ran_hash="v1", error="fatal")
        assert await claim_ids(store) == [a2]

    async def test_concurrent_claims_never_share_a_run_or_a_lane(self, store: Store) -> None:
        for n in range(30):
            await run_in(store, f"L{n % 5}")
        batches = await asyncio.gather(
            *(claim_ids(store, owner=f"w{n}", limit=3) for n in range(8))
        )
        claimed = [await must_get(store, i) for batch in batches for i in batch]
        lanes = [r.lane for r in claimed]
        assert (len(claimed), len(set(lanes))) == (5, 5)

    async def test_lanes_drain_in_order_under_concurrent_claimers(self, store: Store) -> None:
        expected = {f"L{n}": [await run_in(store, f"L{n}") for _ in range(4)] for n in range(4)}
        seen: dict[str, list[int]] = {lane: [] for lane in expected}

        async def worker(owner: str) -> None:
            for _ in range(100):
                runs = await store.claim(owner, now=T0, lease=LEASE, limit=2)
                for run in runs:
                    seen[run.lane].append(run.id)
                    await store.finish_run(run.id, owner, status="succeeded", ran_hash="v1")
                if sum(map(len, seen.values())) == 16:
                    return
                await asyncio.sleep(0)

        await asyncio.gather(*(worker(f"w{n}") for n in range(4)))
        assert seen == expected

    # ---- leases ----------------------------------------------------------------------------
    async def test_a_lease_is_kept_until_it_expires(self, store: Store) -> None:
        await run_in(store, "A")
        await claim_ids(store, owner="dead")
        assert await store.requeue_expired(now=T0 + LEASE / 2) == 0

    async def test_an_expired_lease_returns_the_run_to_the_queue(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store, owner="dead")
        assert await store.requeue_expired(now=T0 + LEASE + 1) == 1
        assert await claim_ids(store, now=T0 + LEASE + 1, owner="alive") == [a1]

    async def test_the_old_owner_cannot_finish_a_run_taken_over(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store, owner="slow")
        await store.requeue_expired(now=T0 + LEASE + 1)
        await claim_ids(store, now=T0 + LEASE + 1, owner="fast")
        assert not await store.finish_run(a1, "slow", status="succeeded", ran_hash="v1")

    async def test_the_new_owner_finishes_a_run_taken_over(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store, owner="slow")
        await store.requeue_expired(now=T0 + LEASE + 1)
        await claim_ids(store, now=T0 + LEASE + 1, owner="fast")
        assert await store.finish_run(a1, "fast", status="succeeded", ran_hash="v1")

    async def test_only_the_owner_may_retry_or_hold_a_run(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store, owner="w1")
        retried = await store.retry_run(a1, "w2", retry_at=T0, ran_hash="v1", error="x")
        held = await store.hold_run(a1, "w2")
        assert (retried, held, (await must_get(store, a1)).status) == (False, False, "running")

    async def test_a_finished_run_cannot_be_finished_again(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store)
        await finish(store, [a1])
        assert not await store.finish_run(a1, "w1", status="failed", ran_hash="v1")

    async def test_heartbeat_extends_the_lease(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store)
        assert await store.heartbeat("w1", [a1], until=T0 + 3 * LEASE) == 1
        assert await store.requeue_expired(now=T0 + 2 * LEASE) == 0

    async def test_heartbeat_of_another_owner_changes_nothing(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store, owner="w1")
        assert await store.heartbeat("w2", [a1], until=T0 + 3 * LEASE) == 0

    async def test_release_gives_all_of_an_owners_runs_back(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        b1 = await run_in(store, "B")
        await claim_ids(store, owner="w1")
        assert await store.release("w1") == 2
        assert await claim_ids(store, owner="w2") == [a1, b1]

    async def test_release_of_named_runs_keeps_the_others(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        b1 = await run_in(store, "B")
        await claim_ids(store, owner="w1")
        assert await store.release("w1", [a1]) == 1
        assert (await must_get(store, b1)).status == "running"

    async def test_running_owners_names_who_holds_runs(self, store: Store) -> None:
        await run_in(store, "A")
        await run_in(store, "B")
        await claim_ids(store, owner="w1", limit=1)
        await claim_ids(store, owner="w2", limit=1)
        assert sorted(await store.running_owners()) == ["w1", "w2"]

    # ---- retries and finishing -------------------------------------------------------------
    async def test_retry_counts_attempts(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store)
        assert await store.retry_run(a1, "w1", retry_at=T0 + 9, ran_hash="v1", error="503")
        run = await must_get(store, a1)
        assert (run.status, run.attempt, run.retry_at, run.error, run.lease_owner) == (
            "queued",
            2,
            T0 + 9,
            "503",
            None,
        )

    async def test_finish_records_the_outcome(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store)
        reply = {"crm_link": "https://crm.example/leads/1", "text": "Анна"}
        await store.finish_run(a1, "w1", status="succeeded", ran_hash="v2", reply=reply)
        run = await must_get(store, a1)
        assert (run.status, run.ran_hash, run.reply, run.lease_owner) == (
            "succeeded",
            "v2",
            reply,
            None,
        )

    # ---- pause -------------------------------------------------------------------------------
    async def test_runs_queued_paused_wait_for_their_bundle(self, store: Store) -> None:
        await run_in(store, "A", paused=True)
        assert await claim_ids(store) == []

    async def test_resuming_a_bundle_queues_its_paused_runs(self, store: Store) -> None:
        a1 = await run_in(store, "A", paused=True)
        assert await store.set_paused(["b"], paused=False) == 1
        assert await claim_ids(store) == [a1]

    async def test_pausing_a_bundle_holds_its_queued_runs_only(self, store: Store) -> None:
        await run_in(store, "A", bundle="b")
        c1 = await run_in(store, "B", bundle="c")
        assert await store.set_paused(["b"], paused=True) == 1
        assert await claim_ids(store) == [c1]

    async def test_a_held_run_is_paused_and_frees_its_lane(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        a2 = await run_in(store, "A")
        await claim_ids(store)
        assert await store.hold_run(a1, "w1")
        assert ((await must_get(store, a1)).status, await claim_ids(store)) == ("paused", [a2])

    # ---- step records ------------------------------------------------------------------------
    async def test_a_finished_step_replaces_its_started_record(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await store.step_started(a1, "contact", 1, {"name": "Анна"})
        await store.step_finished(a1, 1, StepRecord("contact", "ok", output={"id": 7}))
        rows = await store.steps(a1)
        assert [(r.step_id, r.status, r.record.output) for r in rows] == [
            ("contact", "ok", {"id": 7})
        ]

    async def test_results_of_several_steps_are_stored_together(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await store.step_started(a1, "contact", 1, {})
        await store.step_started(a1, "deal", 1, {})
        made = [StepRecord("deal", "ok", output={"id": 9}), StepRecord("contact", "ok")]
        await store.steps_finished(a1, 1, made)
        rows = [(r.step_id, r.status) for r in await store.steps(a1)]
        assert rows == [("contact", "ok"), ("deal", "ok")]

    async def test_a_run_ends_with_its_last_results_in_one_write(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store)
        await store.step_started(a1, "deal", 1, {})
        last = [StepRecord("deal", "ok", output={"id": 9})]
        assert await store.finish_run(a1, "w1", status="succeeded", ran_hash="v1", steps=last)
        (row,) = await store.steps(a1)
        assert (row.status, row.record.output) == ("ok", {"id": 9})
        assert (await must_get(store, a1)).status == "succeeded"

    async def test_a_started_step_keeps_its_input(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await store.step_started(a1, "contact", 1, {"name": "Анна", "note": "\u0000"})
        (row,) = await store.steps(a1)
        assert (row.status, row.record.input) == ("started", {"name": "Анна", "note": "\u0000"})

    async def test_steps_are_listed_by_attempt_then_order(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await store.step_finished(a1, 2, StepRecord("deal", "ok"))
        await store.step_finished(a1, 1, StepRecord("operator", "ok"))
        await store.step_finished(a1, 1, StepRecord("contact", "failed", error_kind="retriable"))
        await store.step_finished(a1, 2, StepRecord("contact", "ok"))
        rows = [(r.attempt, r.step_id) for r in await store.steps(a1)]
        assert rows == [(1, "operator"), (1, "contact"), (2, "deal"), (2, "contact")]

    async def test_resume_data_skips_finished_steps_and_redoes_started_ones(
        self, store: Store
    ) -> None:
        a1 = await run_in(store, "A")
        await store.step_finished(a1, 1, StepRecord("operator", "ok", output={"id": "1"}))
        await store.step_started(a1, "contact", 1, {"name": "Анна"})
        await store.step_finished(a1, 1, StepRecord("deal", "failed", error_kind="retriable"))
        done, resumed = resume_state(await store.steps(a1))
        assert (sorted(done), resumed) == (["operator"], {"contact"})

    # ---- journal queries ---------------------------------------------------------------------
    async def test_get_run_of_an_unknown_id_is_none(self, store: Store) -> None:
        assert await store.get_run(424242) is None

    async def test_get_runs_lists_in_id_order(self, store: Store) -> None:
        ids = [await run_in(store, lane) for lane in "ABC"]
        assert [r.id for r in await store.get_runs(list(reversed(ids)))] == ids

    async def test_a_run_carries_its_events_name_channel_and_chat(self, store: Store) -> None:
        a1 = await run_in(store, "A", name="chat_accepted", channel="site2", chat="42")
        run = await must_get(store, a1)
        assert (run.event_name, run.channel, run.chat_id) == ("chat_accepted", "site2", "42")

    async def test_list_runs_filters_newest_first(self, store: Store) -> None:
        await run_in(store, "A", chat="1", name="chat_accepted")
        await run_in(store, "B", chat="2")
        await run_in(store, "A", chat="1")
        runs = await store.list_runs(RunFilter(chat_id="1"))
        assert [r.event_name for r in runs] == ["chat_finished", "chat_accepted"]

    async def test_list_runs_filters_by_each_field(self, store: Store) -> None:
        a1 = await run_in(store, "A", bundle="x", channel="c1", name="chat_accepted", at=T0)
        b1 = await run_in(store, "B", bundle="y", channel="c2", at=T0 + 10)
        await claim_ids(store, now=T0 + 20, limit=1)
        found = {
            "bundle": await store.list_runs(RunFilter(bundle="y")),
            "status": await store.list_runs(RunFilter(status="running")),
            "channel": await store.list_runs(RunFilter(channel="c1")),
            "event": await store.list_runs(RunFilter(event_name="chat_finished")),
            "since": await store.list_runs(RunFilter(since=T0 + 5)),
            "until": await store.list_runs(RunFilter(until=T0 + 5)),
        }
        assert {k: [r.id for r in v] for k, v in found.items()} == {
            "bundle": [b1],
            "status": [a1],
            "channel": [a1],
            "event": [b1],
            "since": [b1],
            "until": [a1],
        }

    async def test_list_runs_pages_with_limit_and_offset(self, store: Store) -> None:
        ids = [await run_in(store, f"L{n}") for n in range(5)]
        page = await store.list_runs(RunFilter(limit=2, offset=1))
        assert [r.id for r in page] == [ids[3], ids[2]]

    async def test_list_events_filters_newest_first(self, store: Store) -> None:
        await store.accept(event("1", "A", chat="1", channel="c1"))
        await store.accept(event("2", "B", chat="2", channel="c1"))
        await store.accept(event("3", "A", chat="1", channel="c2"))
        by_chat = [e.body for e in await store.list_events(chat_id="1")]
        by_channel = [e.body for e in await store.list_events(channel="c1", limit=1)]
        assert (by_chat, by_channel) == ([b"3", b"1"], [b"2"])

    async def test_last_event_at_is_per_channel(self, store: Store) -> None:
        await store.accept(event("1", "A", channel="c1", at=T0))
        await store.accept(event("2", "A", channel="c1", at=T0 + 5))
        await store.accept(event("3", "A", channel="c2", at=T0 + 2))
        assert await store.last_event_at() == {"c1": T0 + 5, "c2": T0 + 2}

    async def test_stats_count_unfinished_runs_and_the_waiting_queue(self, store: Store) -> None:
        await run_in(store, "A", at=T0)
        await run_in(store, "B", at=T0 + 5)
        await run_in(store, "C", at=T0 + 50)
        stats = await store.stats(now=T0 + 10)
        assert (stats.queue_depth, stats.oldest_waiting, stats.runs) == (
            2,
            T0,
            {("b", "queued"): 3},
        )

    # ---- replay ------------------------------------------------------------------------------
    async def test_replay_keeps_the_finished_steps_of_the_original(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await store.step_finished(a1, 1, StepRecord("contact", "ok", output={"id": "7"}))
        await store.step_finished(a1, 1, StepRecord("deal", "failed", error="fatal"))
        await store.step_started(a1, "note", 1, {})
        new = await store.replay(a1, from_start=False, version_hash="v2")
        run = await must_get(store, new)
        assert (run.replay_of, run.status, run.version_hash, run.lane) == (a1, "queued", "v2", "A")
        assert [s.step_id for s in await store.steps(new)] == ["contact"]

    async def test_replay_from_start_keeps_no_steps(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await store.step_finished(a1, 1, StepRecord("contact", "ok"))
        new = await store.replay(a1, from_start=True, version_hash="v2")
        assert await store.steps(new) == []

    async def test_a_replay_queues_behind_its_lane(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        a2 = await run_in(store, "A")
        await claim_ids(store)
        await finish(store, [a1])
        new = await store.replay(a1, from_start=True, version_hash="v1")
        assert (await claim_ids(store), new > a2) == ([a2], True)

    async def test_replay_of_an_unknown_run_raises(self, store: Store) -> None:
        with pytest.raises(KeyError):
            await store.replay(424242, from_start=True, version_hash="v1")

    # ---- prune -------------------------------------------------------------------------------
    async def test_prune_deletes_old_finished_events_with_their_runs(self, store: Store) -> None:
        old = await run_in(store, "A", at=T0)
        await store.step_finished(old, 1, StepRecord("contact", "ok"))
        await claim_ids(store, now=T0)
        await finish(store, [old])
        assert await store.prune(older_than=T0 + 1, keep=None) == 1
        assert (await store.get_run(old), await store.steps(old)) == (None, [])

    async def test_prune_keeps_unfinished_and_recent_events(self, store: Store) -> None:
        unfinished = await run_in(store, "A", at=T0)
        recent = await run_in(store, "B", at=T0 + 100)
        assert await store.prune(older_than=T0 + 1, keep=None) == 0
        assert [r.id for r in await store.get_runs([unfinished, recent])] == [unfinished, recent]

    async def test_prune_keeps_the_newest_events(self, store: Store) -> None:
        ids = [await run_in(store, f"L{n}", body=str(n), at=T0 + n) for n in range(5)]
        await claim_ids(store, now=T0 + 10)
        await finish(store, ids)
        assert await store.prune(older_than=None, keep=2) == 3
        assert [e.body for e in await store.list_events()] == [b"4", b"3"]

    async def test_prune_drops_old_rejections(self, store: Store) -> None:
        await store.reject("shop", "old", b"1", T0)
        await store.reject("shop", "new", b"2", T0 + 100)
        await store.prune(older_than=T0 + 1, keep=None)
        assert [r.reason for r in await store.rejections()] == ["new"]

    async def test_ping_answers_when_the_store_is_open(self, store: Store) -> None:
        await store.ping()


__all__ = [
    "LEASE",
    "NOT_MATCHED",
    "PG_DSN_VARIABLE",
    "T0",
    "StoreContract",
    "claim_ids",
    "event",
    "finish",
    "must_get",
    "pg_dsn",
    "run_in",
    "scratch_database",
    "scratch_schema",
]
