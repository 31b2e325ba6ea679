"""The journal pages beside the runs, in headless Chromium against ``jivocrm serve``: events with
their filters, refused deliveries with what to change, channels with Jivo's own steps, bundles
paused and resumed with a button. Screenshots under the test's tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser_kit import post, until_shown

from jivocrm.journal.channels import JIVO_PATH
from journal_world import World, sample

pytestmark = pytest.mark.browser

BOTH = "Контакт в обе CRM"


def test_events_filter_to_those_that_matched_no_bundle(
    served: World, page: Any, tmp_path: Path
) -> None:
    w = served
    w.send(sample(chat_id=5001, visitor={"phone": "+79035550101"}))
    w.send(sample(chat_id=5002, visitor={"phone": None, "email": "boris@mail.ru"}))
    w.settle()
    page.goto(f"{w.url}/ui/events")
    page.select_option("select[name=outcome]", "unmatched")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/ui/events?*outcome=unmatched*")
    page.screenshot(path=tmp_path / "events-unmatched.png", full_page=True)
    rows = page.locator("tbody tr")
    assert (rows.count(), "5002" in rows.first.inner_text()) == (1, True)
    rows.first.get_by_role("link", name="why").click()
    page.wait_for_url("**/ui/events/*")
    row = page.locator("tbody tr").filter(has_text=BOTH)
    assert "did not match: visitor.phone is empty" in row.inner_text()


def test_a_refused_delivery_shows_its_reason_and_what_to_change(
    served: World, page: Any, tmp_path: Path
) -> None:
    w = served
    assert post(w, json.dumps(sample(widget_id="Qq1Ww2Ee3R")).encode()) == 403
    assert post(w, b'{"event_name":') == 400
    page.goto(f"{w.url}/ui/refused")
    until_shown(page, "tbody tr", "the body is not JSON")  # the later one: both are in
    row = page.locator("tbody tr").filter(has_text="widget_id Qq1Ww2Ee3R")
    page.screenshot(path=tmp_path / "refused.png", full_page=True)
    row.locator("td a").first.click()
    page.wait_for_url("**/ui/refused/*")
    page.screenshot(path=tmp_path / "refusal.png", full_page=True)
    assert "paste that channel's URL there" in page.locator(".note.info").inner_text()
    assert "Qq1Ww2Ee3R" in page.locator("pre").inner_text()


def test_channels_show_deliveries_and_jivos_steps_for_the_silent_one(
    served: World, page: Any, tmp_path: Path
) -> None:
    w = served
    w.send(sample(chat_id=5003, visitor={"phone": "+79035550102"}))
    assert post(w, b"[1]") == 400
    page.goto(f"{w.url}/ui/channels")
    until_shown(page, "section#shop", "last:")
    page.screenshot(path=tmp_path / "channels.png", full_page=True)
    shop, blog = page.locator("section#shop"), page.locator("section#blog")
    assert "/jivo/********" in shop.inner_text()
    assert "never" in blog.inner_text()
    assert JIVO_PATH in blog.locator("ol").inner_text()
    shop.get_by_role("link", name="1", exact=True).click()
    page.wait_for_url("**/ui/refused?channel=shop")
    assert page.locator("tbody tr").count() == 1


def test_a_bundle_paused_with_the_button_holds_its_events_until_resumed(
    served: World, page: Any, tmp_path: Path
) -> None:
    w = served
    page.goto(f"{w.url}/ui/bundles")
    row = page.locator("tbody tr").filter(has_text=BOTH)
    row.locator("input[name=reason]").fill("new pipeline")
    row.get_by_role("button", name=f"Pause {BOTH}").click()
    page.wait_for_url("**/ui/bundles")
    held = page.locator("tbody tr").filter(has_text=BOTH)
    assert "held at run time" in held.inner_text()
    assert "new pipeline" in held.inner_text()
    w.send(sample(chat_id=5004, visitor={"phone": "+79035550103"}))
    page.reload()
    page.screenshot(path=tmp_path / "bundle-held.png", full_page=True)
    held = page.locator("tbody tr").filter(has_text=BOTH)
    assert held.locator("td.num").first.inner_text() == "1"  # one paused run
    held.get_by_role("button", name=f"Resume {BOTH}").click()
    page.wait_for_url("**/ui/bundles")
    w.settle()
    (status,) = w.db_rows("SELECT status FROM runs WHERE event_id = (SELECT max(id) FROM events)")
    assert status == ("succeeded",)
    assert "running" in page.locator("tbody tr").filter(has_text=BOTH).inner_text()
