"""Replay of a failed run after the CRM recovers: the replay
resumes at the failed step, and the CRM ends with what was there plus what was missing — the
contact the first pass created in amoCRM (mode ``create``: a rerun would make a second) is not
created again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from journal_world import World, journal_world, sample


@pytest.fixture
def failed(tmp_path: Path) -> Iterator[tuple[World, int, int, int]]:
    """A run whose amoCRM step succeeded and whose Bitrix24 step failed on an auth error; the
    CRM is healthy again afterwards. Yields (world, run id, amoCRM contacts, Bitrix24 contacts)."""
    with journal_world(tmp_path) as w:
        w.emulators.faults("b24", auth_failure="NO_AUTH_FOUND")
        w.send(sample(chat_id=3001, visitor={"phone": "+79035550101", "name": "Вера"}))
        w.settle()
        w.emulators.faults("b24", auth_failure=None)
        (run,) = w.json("runs", "list", "--status", "failed")
        amo, b24 = len(w.emulators.contacts("amo")), len(w.emulators.contacts("b24"))
        yield w, int(run["id"]), amo, b24


def test_replay_through_the_daemon_adds_only_what_was_missing(
    failed: tuple[World, int, int, int],
) -> None:
    w, run, amo, b24 = failed
    done = w.json("runs", "replay", str(run), "--wait")
    assert [r["status"] for r in done["replays"]] == ["succeeded"]
    assert (len(w.emulators.contacts("amo")), len(w.emulators.contacts("b24"))) == (amo, b24 + 1)


def test_replay_without_a_daemon_runs_here_and_adds_only_what_was_missing(
    failed: tuple[World, int, int, int],
) -> None:
    w, run, amo, b24 = failed
    w.stop()
    done = w.json("runs", "replay", "--failed")
    assert [(r["run"], r["status"]) for r in done["replays"]] == [(run, "succeeded")]
    assert (len(w.emulators.contacts("amo")), len(w.emulators.contacts("b24"))) == (amo, b24 + 1)


def test_replay_is_journaled_and_linked_to_the_original(
    failed: tuple[World, int, int, int],
) -> None:
    w, run, _, _ = failed
    replay = w.json("runs", "replay", str(run), "--wait")["replays"][0]["replay"]
    shown = w.json("runs", "show", str(run))
    assert (shown["replays"], w.json("runs", "show", str(replay))["run"]["replay_of"]) == (
        [replay],
        run,
    )


def test_replay_resumes_at_the_failed_step(failed: tuple[World, int, int, int]) -> None:
    w, run, _, _ = failed
    replay = w.json("runs", "replay", str(run), "--wait")["replays"][0]["replay"]
    text = w.cli("runs", "show", str(replay)).stdout
    assert "step amo_contact: ok, attempt 1, " in text
    assert "(kept from the original run)" in text.split("step b24_contact")[0]


def test_dry_run_says_where_the_replay_starts_and_changes_nothing(
    failed: tuple[World, int, int, int],
) -> None:
    w, run, amo, b24 = failed
    (plan,) = w.json("runs", "replay", str(run), "--dry-run")["replays"]
    assert plan["start"] == "from step b24_contact, keeping amo_contact"
    assert len(w.json("runs", "list")) == 1
    assert (len(w.emulators.contacts("amo")), len(w.emulators.contacts("b24"))) == (amo, b24)


def test_bulk_replay_skips_runs_already_replayed(failed: tuple[World, int, int, int]) -> None:
    w, run, _, _ = failed
    w.json("runs", "replay", str(run), "--wait")
    done = w.json("runs", "replay", "--failed")
    assert (done["replays"], done["notes"]) == ([], ["1 failed run(s) skipped: already replayed"])


def test_a_succeeded_run_needs_force(failed: tuple[World, int, int, int]) -> None:
    w, run, _, _ = failed
    replay = w.json("runs", "replay", str(run), "--wait")["replays"][0]["replay"]
    done = w.cli("runs", "replay", str(replay), "--format", "json", ok=False)
    assert (done.returncode, "add --force" in done.stdout) == (1, True)


def test_a_forced_replay_of_a_succeeded_run_creates_no_duplicate(
    failed: tuple[World, int, int, int],
) -> None:
    w, run, _, b24 = failed
    replay = w.json("runs", "replay", str(run), "--wait")["replays"][0]["replay"]
    w.json("runs", "replay", str(replay), "--force", "--wait")
    # amo_contact is mode create: a forced run from the start makes a second one, by design;
    # the Bitrix24 step (mode skip) finds the contact the first replay made.
    assert len(w.emulators.contacts("b24")) == b24 + 1


def test_original_config_is_refused_when_the_bundle_changed(
    failed: tuple[World, int, int, int],
) -> None:
    w, run, _, _ = failed
    path = w.root / "bundles" / "both.yaml"
    path.write_text(path.read_text("utf-8") + "description: changed\n", "utf-8")
    (refused,) = w.json("runs", "replay", str(run), "--config", "original", ok=False)["replays"]
    assert refused["status"] == "refused"
    assert "only the current version is available: use --config current" in refused["reason"]
