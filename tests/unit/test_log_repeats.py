"""Repeated identical errors are logged with a rate limit: the first line, then one line per
window saying how many were left out. Lines that differ in any field all get through."""

from __future__ import annotations

import contextlib
import io
import json

import structlog

from jivocrm.core.logs import REPEAT_WINDOW, Repeats, configure


def test_the_same_error_twice_a_second_is_one_line_a_minute() -> None:
    now = [0.0]
    repeats = Repeats(clock=lambda: now[0])
    kept = []
    for _ in range(240):  # two minutes of claim_failed, twice a second
        with contextlib.suppress(structlog.DropEvent):
            kept.append(repeats(None, "error", {"event": "claim_failed", "error": "disk full"}))
        now[0] += 0.5
    assert len(kept) == 2
    assert kept[0] == {"event": "claim_failed", "error": "disk full"}
    assert kept[1]["repeated"] == int(REPEAT_WINDOW / 0.5) - 1


def test_lines_that_differ_are_all_kept_and_info_is_never_limited() -> None:
    repeats = Repeats(clock=lambda: 0.0)
    for run in range(20):
        repeats(None, "warning", {"event": "step_failed", "run_id": run, "error": "503"})
    for _ in range(20):
        repeats(None, "info", {"event": "webhook_received"})


def test_the_daemon_logs_are_configured_with_it() -> None:
    out = io.StringIO()
    configure(stream=out, json_output=True)
    log = structlog.get_logger("jivocrm.workers")
    for _ in range(50):
        log.error("claim_failed", error="the store could not commit: database or disk is full")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["claim_failed"]


def test_text_no_log_file_can_take_is_replaced() -> None:
    out = io.StringIO()
    configure(stream=out, json_output=True)
    structlog.get_logger("jivocrm.intake").info("webhook_received", chat_id="\ud800x")
    assert json.loads(out.getvalue())["chat_id"] == "\ufffdx"
