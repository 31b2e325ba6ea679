"""Which steps a resumed run must treat as "may have written": started without a result, or
failed retriably after a write that got no clear answer."""

from __future__ import annotations

from jivocrm.core.records import StepRecord
from jivocrm.store.base import StepRow
from jivocrm.store.journal import resume_state


def failed(*calls: dict[str, object]) -> StepRow:
    record = StepRecord(
        "note", "failed", error="timeout", error_kind="retriable", calls=list(calls)
    )
    return StepRow(1, "note", 1, "failed", record)


def test_a_write_without_an_answer_may_have_gone_through() -> None:
    for call in ({"method": "POST", "status": None}, {"method": "POST", "status": 502}):
        assert resume_state([failed(call)])[1] == {"note"}


def test_a_refused_or_unsent_write_did_not() -> None:
    for calls in ([{"method": "POST", "status": 429}], [{"method": "GET", "status": None}], []):
        assert resume_state([failed(*calls)])[1] == set()


def test_a_started_step_without_a_result_is_resumed() -> None:
    started = StepRow(1, "note", 2, "started", StepRecord("note", "ok"))
    assert resume_state([failed(), started])[1] == {"note"}
