"""The store contract, continued: runtime holds, bundle versions and refused deliveries.

Mixed into a test class beside ``StoreContract`` (same ``store`` fixture: an opened, empty store)::

    class TestStoreContract(StoreContract, OperationsContract): ...
"""

from __future__ import annotations

import dataclasses

from jivocrm.store.base import BundleVersion, NewEvent, Refusal, RefusalCount, Store
from jivocrm.testing.store_contract import T0, claim_ids, event, finish, must_get, run_in

V1 = BundleVersion("v1", "b", "bundles/b.yaml", "version: 1\nname: b\n")
V2 = BundleVersion("v2", "b", "bundles/b.yaml", "version: 1\nname: b\ndescription: new\n")


def refused(n: int, channel: str = "shop", status: int = 400) -> Refusal:
    return Refusal(channel, status, f"reason {n}", T0 + n, f"body {n}".encode(), "127.0.0.1")


class OperationsContract:
    # ---- runtime holds -----------------------------------------------------------------------
    async def test_a_hold_pauses_the_queued_runs_of_its_bundle_only(self, store: Store) -> None:
        await run_in(store, "A", bundle="b")
        c1 = await run_in(store, "B", bundle="c")
        assert await store.hold_bundle("b", by="ops", at=T0) == 1
        assert await claim_ids(store) == [c1]

    async def test_runs_of_a_held_bundle_are_created_paused(self, store: Store) -> None:
        await store.hold_bundle("b", by="ops", at=T0)
        accepted = await store.accept(event("{}", "A", "B"))
        runs = await store.get_runs(accepted.run_ids)
        assert ([r.status for r in runs], accepted.paused) == (
            ["paused", "paused"],
            accepted.run_ids,
        )

    async def test_release_queues_held_runs_in_lane_order(self, store: Store) -> None:
        await store.hold_bundle("b", by="ops", at=T0)
        ids = [await run_in(store, "A") for _ in range(3)]
        assert await store.release_bundle("b", requeue=True) == 3
        claimed = []
        for _ in ids:
            (got,) = await claim_ids(store)
            claimed.append(got)
            await finish(store, [got])
        assert claimed == ids

    async def test_release_without_requeue_keeps_the_runs_paused(self, store: Store) -> None:
        await store.hold_bundle("b", by="ops", at=T0)
        a1 = await run_in(store, "A")
        assert (await store.release_bundle("b", requeue=False), await store.holds()) == (0, [])
        assert (await must_get(store, a1)).status == "paused"

    async def test_enabling_in_the_file_does_not_release_a_runtime_hold(self, store: Store) -> None:
        await store.hold_bundle("b", by="ops", at=T0)
        await run_in(store, "A")
        assert (await store.set_paused(["b"], paused=False), await claim_ids(store)) == (0, [])

    async def test_holds_say_who_held_and_when(self, store: Store) -> None:
        await store.hold_bundle("b", by="anna@host", reason="new pipeline", at=T0)
        await store.hold_bundle("b", by="someone else", at=T0 + 5)  # idempotent: first one kept
        (hold,) = await store.holds()
        assert (hold.bundle, hold.held_by, hold.held_at, hold.reason) == (
            "b",
            "anna@host",
            T0,
            "new pipeline",
        )

    async def test_a_replay_of_a_held_bundle_waits_paused(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store)
        await finish(store, [a1])
        await store.hold_bundle("b", by="ops", at=T0)
        new = await store.replay(a1, from_start=True, version_hash="v1")
        assert (await must_get(store, new)).status == "paused"

    # ---- bundle versions ---------------------------------------------------------------------
    async def test_accept_keeps_the_version_of_each_run(self, store: Store) -> None:
        await store.accept(_with_versions(event("1", "A"), V1))
        await store.accept(_with_versions(event("2", "A"), V1))
        assert await store.bundle_version("v1") == V1

    async def test_an_unknown_version_is_none(self, store: Store) -> None:
        assert await store.bundle_version("nope") is None

    async def test_a_pinned_replay_keeps_its_version(self, store: Store) -> None:
        a1 = await run_in(store, "A")
        await claim_ids(store)
        await finish(store, [a1])
        new = await store.replay(a1, from_start=True, version_hash="v2", version=V2, pinned=True)
        run = await must_get(store, new)
        assert (run.pinned, run.version_hash, await store.bundle_version("v2")) == (
            True,
            "v2",
            V2,
        )

    async def test_prune_drops_versions_no_run_refers_to(self, store: Store) -> None:
        await store.keep_versions([V2])
        await store.accept(_with_versions(event("1", "A"), V1))
        await store.prune(older_than=T0 - 1, keep=None)
        assert (await store.bundle_version("v1"), await store.bundle_version("v2")) == (V1, None)

    # ---- refused deliveries ------------------------------------------------------------------
    async def test_refusals_keep_status_reason_and_excerpt(self, store: Store) -> None:
        await store.record_refusals([refused(1, status=415)], [], keep=10)
        (got,) = await store.refusals()
        assert (got.status, got.reason, got.body, got.remote) == (
            415,
            "reason 1",
            b"body 1",
            "127.0.0.1",
        )
        assert await store.get_refusal(got.id) == got

    async def test_only_the_newest_refusals_are_kept(self, store: Store) -> None:
        for n in range(5):
            await store.record_refusals([refused(n)], [], keep=3)
        assert [r.reason for r in await store.refusals()] == ["reason 4", "reason 3", "reason 2"]

    async def test_refusal_counts_add_up(self, store: Store) -> None:
        await store.record_refusals([], [RefusalCount("shop", 400, 7, T0, T0 + 1)], keep=10)
        await store.record_refusals([], [RefusalCount("shop", 400, 5, T0 + 2, T0 + 3)], keep=10)
        (count,) = await store.refusal_counts()
        assert (count.count, count.first_at, count.last_at) == (12, T0, T0 + 3)

    async def test_unknown_token_remotes_are_capped(self, store: Store) -> None:
        counts = [RefusalCount("", 404, 1, T0 + n, T0 + n, f"10.0.0.{n}") for n in range(5)]
        await store.record_refusals([], counts, keep=2)
        remotes = sorted(c.remote for c in await store.refusal_counts())
        assert remotes == ["10.0.0.3", "10.0.0.4"]

    async def test_last_refusal_is_per_channel(self, store: Store) -> None:
        await store.record_refusals([refused(1), refused(2), refused(3, "blog")], [], keep=10)
        last = await store.last_refusals()
        assert {k: v.reason for k, v in last.items()} == {"shop": "reason 2", "blog": "reason 3"}

    async def test_refusals_filter_by_channel(self, store: Store) -> None:
        await store.record_refusals([refused(1), refused(2, "blog")], [], keep=10)
        assert [r.channel for r in await store.refusals(channel="blog")] == ["blog"]

    async def test_prune_drops_old_refusal_counts(self, store: Store) -> None:
        counts = [RefusalCount("shop", 400, 1, T0, T0), RefusalCount("blog", 400, 1, T0, T0 + 9)]
        await store.record_refusals([], counts, keep=10)
        await store.prune(older_than=T0 + 5, keep=None)
        assert [c.channel for c in await store.refusal_counts()] == ["blog"]

    # ---- events by outcome -------------------------------------------------------------------
    async def test_events_filter_by_whether_they_started_a_run(self, store: Store) -> None:
        await store.accept(event("ran", "A"))
        await store.accept(event("nothing"))
        matched = [e.body for e in await store.list_events(matched=True)]
        unmatched = [e.body for e in await store.list_events(matched=False)]
        assert (matched, unmatched) == ([b"ran"], [b"nothing"])


def _with_versions(new: NewEvent, *versions: BundleVersion) -> NewEvent:
    return dataclasses.replace(new, versions=versions)


__all__ = ["OperationsContract"]
