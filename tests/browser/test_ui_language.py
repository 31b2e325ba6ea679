"""The journal pages in Russian, in headless Chromium against ``jivocrm serve``: a browser that
asks for Russian (Accept-Language ru-RU) reads Russian pages — statuses, the refusal's reason and
what to change included — and the «Русский | English» switch turns every page English and back,
remembered from page to page. Screenshots under the test's tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser_kit import post, until_shown

from journal_world import World, sample

pytestmark = pytest.mark.browser


def test_a_russian_browser_reads_russian_pages_and_the_switch_turns_them_english(
    served: World, page_ru: Any, tmp_path: Path
) -> None:
    w, page = served, page_ru
    w.send(sample(chat_id=6001, visitor={"phone": "+79035550101", "name": "Вера Иванова"}))
    w.settle()

    page.goto(f"{w.url}/ui/runs")
    page.screenshot(path=tmp_path / "runs-ru.png", full_page=True)
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.locator("h1").inner_text() == "Запуски"
    assert page.locator("header nav a").all_inner_texts() == [
        "Запуски",
        "С ошибкой",
        "События",
        "Отклонённые",
        "Каналы",
        "Связки",
    ]
    row = page.locator("tbody tr").filter(has_text="6001").first
    assert "выполнен" in row.locator(".status").inner_text()
    assert page.get_by_role("button", name="Показать").count() == 1

    page.get_by_role("button", name="English").click()
    page.wait_for_url("**/ui/runs")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Runs"
    assert "succeeded" in page.locator("tbody tr .status").first.inner_text()

    page.goto(f"{w.url}/ui/bundles")  # the choice holds on every page
    assert page.locator("h1").inner_text() == "Bundles"
    page.screenshot(path=tmp_path / "bundles-en.png", full_page=True)

    page.get_by_role("button", name="Русский").click()
    page.wait_for_url("**/ui/bundles")
    assert page.locator("h1").inner_text() == "Связки"
    assert page.locator("html").get_attribute("lang") == "ru"


def test_a_refused_delivery_is_explained_in_russian(
    served: World, page_ru: Any, tmp_path: Path
) -> None:
    w, page = served, page_ru
    assert post(w, json.dumps(sample(widget_id="Qq1Ww2Ee3R")).encode()) == 403
    page.goto(f"{w.url}/ui/refused")
    row = until_shown(page, "tbody tr", "Qq1Ww2Ee3R")
    assert "widget_id Qq1Ww2Ee3R — не виджет канала shop" in row.inner_text()
    row.locator("td a").first.click()
    page.wait_for_url("**/ui/refused/*")
    page.screenshot(path=tmp_path / "refusal-ru.png", full_page=True)
    assert page.locator("h1").inner_text().startswith("Отклонённая доставка")
    advice = page.locator(".note.info").inner_text()
    assert advice.startswith("Что изменить: Событие пришло из другого канала Jivo, а не из «shop»")
    page.get_by_role("button", name="English").click()
    page.wait_for_url("**/ui/refused/*")
    assert "paste that channel's URL there" in page.locator(".note.info").inner_text()
    assert "is not the widget of channel shop" in page.locator("dd.error-text").inner_text()
