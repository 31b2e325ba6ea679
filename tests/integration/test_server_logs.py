"""Logs: secrets and (on request) personal data never reach a line; reload by watching files."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from jivocrm.core.logs import Redactor, configure
from jivocrm.server.reload import snapshot


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # configure() is process-wide: leave the next test as it was


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_secret_values_are_masked_wherever_they_appear() -> None:
    out = io.StringIO()
    configure(Redactor(["tok-SECRET-123"]), stream=out, json_output=True)
    structlog.get_logger("t").warning(
        "call_failed", url="https://x.ru/rest/1/tok-SECRET-123/crm", data={"k": ["tok-SECRET-123"]}
    )
    [line] = lines(out)
    assert "tok-SECRET-123" not in json.dumps(line)
    assert line["url"] == "https://x.ru/rest/1/***/crm"


def test_personal_data_is_masked_only_when_asked() -> None:
    out = io.StringIO()
    redactor = configure(Redactor(), stream=out, json_output=True)
    log = structlog.get_logger("t")
    log.info("visitor", text="Анна +7 916 123-45-67 anna@mail.ru", run_id=12345678901)
    redactor.update([], personal=True)
    log.info("visitor", text="Анна +7 916 123-45-67 anna@mail.ru", run_id=12345678901)
    plain, masked = lines(out)
    assert plain["text"] == "Анна +7 916 123-45-67 anna@mail.ru"
    assert (masked["text"], masked["run_id"]) == ("Анна *** ***", 12345678901)


def test_a_terminal_gets_console_lines_and_a_pipe_json() -> None:
    out = io.StringIO()  # not a TTY
    configure(Redactor(), stream=out)
    structlog.get_logger("t").info("webhook_received", run_id=1)
    assert json.loads(out.getvalue())["event"] == "webhook_received"


async def test_the_watch_snapshot_sees_edits_new_and_deleted_bundles(tmp_path: Path) -> None:
    (tmp_path / "bundles").mkdir()
    (tmp_path / "jivocrm.yaml").write_text("version: 1\nbundles: bundles/\n")
    first = tmp_path / "bundles" / "a.yaml"
    first.write_text("name: a\n")
    before = snapshot(tmp_path)
    await asyncio.sleep(0.01)
    (tmp_path / "bundles" / "b.yaml").write_text("name: b\n")
    added = snapshot(tmp_path)
    first.unlink()
    removed = snapshot(tmp_path)
    assert (len(before), len(added), len(removed)) == (2, 3, 2)
    assert added != before
    assert removed != added
