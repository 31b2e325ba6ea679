"""The journal's web page in headless Chromium: runs list → a failed run → replay, after the CRM
recovered; screenshots under the test's tmp_path for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from journal_world import World, sample

pytestmark = pytest.mark.browser

BOTH = "Контакт в обе CRM"


def failed_run(w: World) -> None:
    """A run whose Bitrix24 step failed on an auth error; Bitrix24 is healthy again after."""
    w.emulators.faults("b24", auth_failure="NO_AUTH_FOUND")
    w.send(sample(chat_id=4001, visitor={"phone": "+79035550101", "name": "Вера Иванова"}))
    w.send(sample(chat_id=4002, visitor={"phone": None, "email": "boris@mail.ru"}))
    w.settle()
    w.emulators.faults("b24", auth_failure=None)


def test_list_run_replay(served: World, page: Any, tmp_path: Path) -> None:
    w = served
    failed_run(w)
    amo, b24 = len(w.emulators.contacts("amo")), len(w.emulators.contacts("b24"))

    page.goto(f"{w.url}/ui/runs")
    page.screenshot(path=tmp_path / "1-runs.png", full_page=True)
    row = page.locator("tbody tr").filter(has_text="failed")
    assert BOTH in row.inner_text()

    row.locator("td a").first.click()
    page.wait_for_url("**/ui/runs/*")
    page.screenshot(path=tmp_path / "2-failed-run.png", full_page=True)
    failed_step = page.locator("section.step.failed")
    assert "b24_contact" in failed_step.locator("h3").inner_text()
    assert "NO_AUTH_FOUND" in failed_step.inner_text()

    page.get_by_role("button", name="Replay run").click()
    page.wait_for_url("**/ui/runs/*")
    page.locator("h1 .status.succeeded").wait_for(timeout=20_000)  # the page refreshes itself
    page.screenshot(path=tmp_path / "3-replay.png", full_page=True)
    assert "kept from the original run" in page.locator("section.step").first.inner_text()
    assert (len(w.emulators.contacts("amo")), len(w.emulators.contacts("b24"))) == (amo, b24 + 1)


def test_event_page_explains_a_filtered_event(served: World, page: Any, tmp_path: Path) -> None:
    w = served
    failed_run(w)
    (event_id,) = w.db_rows("SELECT id FROM events WHERE chat_id = '4002'")[0]
    page.goto(f"{w.url}/ui/events/{event_id}")
    page.screenshot(path=tmp_path / "event.png", full_page=True)
    row = page.locator("tbody tr").filter(has_text=BOTH)
    assert "did not match: visitor.phone is empty" in row.inner_text()


def test_another_machine_signs_in_with_the_admin_token(
    served: World, page: Any, tmp_path: Path
) -> None:
    # A proxy header makes the request count as not local, as it would through a reverse proxy.
    page.set_extra_http_headers({"X-Forwarded-For": "203.0.113.7"})
    page.goto(f"{served.url}/ui/runs?status=failed")
    assert "/ui/login" in page.url
    page.fill("input[name=token]", served.env["JIVOCRM_ADMIN_TOKEN"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/runs?status=failed")
    page.screenshot(path=tmp_path / "signed-in.png", full_page=True)
    assert page.locator("h1").inner_text() == "Runs"
