"""What the store records after a run: the durable retry schedule decides, never a sleep."""

from __future__ import annotations

import dataclasses

from jivocrm.core.records import RunOutcome
from jivocrm.core.retry import RetryPolicy
from jivocrm.journal.execution import verdict
from jivocrm.store.base import Run

POLICY = RetryPolicy(attempts=3, initial=5.0, multiplier=3.0, max_delay=60.0, jitter=False)


def run(attempt: int) -> Run:
    return Run(
        id=1, event_id=1, bundle="b", lane="chat:1", status="running", attempt=attempt,
        retry_at=0.0, created_at=0.0, updated_at=0.0, version_hash="h",
    )  # fmt: skip


def test_success_is_recorded_as_such() -> None:
    assert verdict(POLICY, run(1), RunOutcome("succeeded")).status == "succeeded"


def test_a_retriable_failure_waits_at_least_the_crm_hint() -> None:
    decided = verdict(POLICY, run(1), RunOutcome("retry", error="429", retry_after=300.0))
    assert (decided.status, decided.delay, decided.error) == ("retry", 300.0, "429")
    assert verdict(POLICY, run(2), RunOutcome("retry", error="503")).delay == 15.0


def test_the_last_attempt_gives_up_with_the_reason() -> None:
    decided = verdict(POLICY, run(3), RunOutcome("retry", error="503 from the CRM"))
    assert decided.status == "failed"
    assert decided.error == "gave up after 3 attempts: 503 from the CRM"


def test_a_fatal_failure_is_final_at_once() -> None:
    decided = verdict(POLICY, run(1), RunOutcome("failed", error="steps[2] (deal): no pipeline"))
    assert (decided.status, decided.error) == ("failed", "steps[2] (deal): no pipeline")


HOLD = RetryPolicy(
    attempts=10, initial=5.0, multiplier=3.0, max_delay=60.0, jitter=False, max_lane_hold=100.0
)


def started(attempt: int, at: float) -> Run:
    return dataclasses.replace(run(attempt), started_at=at)


def test_a_run_past_its_lane_hold_fails_so_the_chat_goes_on() -> None:
    decided = verdict(HOLD, started(2, 1000.0), RunOutcome("retry", error="503"), now=1100.0)
    assert (decided.status, decided.lane_held) == ("failed", True)
    assert decided.error is not None
    assert decided.error.startswith("held its lane for 100 s (retry.max_lane_hold is 100 s)")
    assert decided.error.endswith(": 503")


def test_the_last_retry_comes_at_the_lane_hold_bound() -> None:
    # The schedule says 45 s; the bound leaves 10.
    decided = verdict(HOLD, started(3, 1000.0), RunOutcome("retry", error="503"), now=1090.0)
    assert (decided.status, decided.delay) == ("retry", 10.0)


def test_the_crm_wait_hint_still_wins_over_the_bound() -> None:
    outcome = RunOutcome("retry", error="429", retry_after=30.0)
    assert verdict(HOLD, started(1, 1000.0), outcome, now=1090.0).delay == 30.0
