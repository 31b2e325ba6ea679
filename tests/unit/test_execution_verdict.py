"""What the store records after a run: the durable retry schedule decides, never a sleep."""

from __future__ import annotations

from jivocrm.engine.journal import RunOutcome
from jivocrm.engine.retry import RetryPolicy
from jivocrm.server.execution import verdict
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
