"""Replay of a failed run after the CRM recovers: the replay
resumes at the failed step, and the CRM ends with what was there plus what was missing — the
contact the first pass created in amoCRM (mode ``create``: a rerun would make a second) is not
created again."""

from __future__ import annotations

import contextlib
import sqlite3
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


def test_a_dry_run_in_russian_says_where_it_starts(failed: tuple[World, int, int, int]) -> None:
    w, run, _, _ = failed
    text = w.cli("runs", "replay", str(run), "--dry-run", "--lang", "ru").stdout
    assert "с шага b24_contact, сохраняя amo_contact" in " ".join(text.split())
    assert "будет повторён" in text


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


def change_the_bitrix24_name(w: World) -> None:
    """The bundle changes after the run: the Bitrix24 contact's name gets a prefix."""
    path = w.root / "bundles" / "both.yaml"
    text = path.read_text("utf-8")
    old = '      name: "{{ event.visitor.name }}"\n      phone: "{{ event.visitor.phone }}"\n'
    old += "    duplicates: {mode: skip"
    assert text.count(old) == 1
    new = old.replace('name: "{{ event', 'name: "Изменено {{ event')
    path.write_text(text.replace(old, new), "utf-8")


def new_bitrix24_names(w: World, before: int) -> list[str]:
    return [c.get("NAME") for c in w.emulators.contacts("b24")[before:]]


@pytest.mark.parametrize("config", ["original", "current"])
def test_a_replay_runs_the_bundle_version_its_config_names(
    failed: tuple[World, int, int, int], config: str
) -> None:
    w, run, _, b24 = failed
    change_the_bitrix24_name(w)
    w.stop()
    w.start()  # the daemon now runs the changed bundle
    done = w.json("runs", "replay", str(run), "--config", config, "--wait")["replays"]
    assert [r["status"] for r in done] == ["succeeded"]
    expected = {"original": ["Вера"], "current": ["Изменено Вера"]}[config]
    assert new_bitrix24_names(w, b24) == expected


def test_a_pinned_replay_records_the_original_version(failed: tuple[World, int, int, int]) -> None:
    w, run, _, _ = failed
    original = w.json("runs", "show", str(run))["bundle"]["version"]
    change_the_bitrix24_name(w)
    w.stop()  # no daemon: the replay runs here, with the project's changed bundle at hand
    (done,) = w.json("runs", "replay", str(run), "--config", "original")["replays"]
    shown = w.json("runs", "show", str(done["replay"]))
    assert (done["status"], shown["run"]["pinned"], shown["bundle"]["ran_version"]) == (
        "succeeded",
        True,
        original,
    )


def test_runs_show_prints_the_diff_to_the_current_version(
    failed: tuple[World, int, int, int],
) -> None:
    w, run, _, _ = failed
    change_the_bitrix24_name(w)
    before = w.cli("runs", "show", str(run)).stdout
    text = w.cli("runs", "show", str(run), "--diff").stdout
    assert f"runs show {run} --diff" in before
    assert '-      name: "{{ event.visitor.name }}"' in text
    assert '+      name: "Изменено {{ event.visitor.name }}"' in text


def test_original_config_is_refused_when_the_version_is_gone(
    failed: tuple[World, int, int, int],
) -> None:
    w, run, _, _ = failed
    change_the_bitrix24_name(w)
    w.stop()
    with contextlib.closing(sqlite3.connect(w.db)) as conn, conn:
        conn.execute("DELETE FROM bundle_versions")
    (refused,) = w.json("runs", "replay", str(run), "--config", "original", ok=False)["replays"]
    assert refused["status"] == "refused"
    assert "not in the store; use --config current" in refused["reason"]
