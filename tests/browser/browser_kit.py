"""What the browser tests share: posting a webhook to the served world, waiting for a row."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from journal_world import TOKEN, World


def post(w: World, body: bytes) -> int:
    request = urllib.request.Request(f"{w.url}/jivo/{TOKEN}", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def until_shown(page: Any, selector: str, text: str, patience: float = 15.0) -> Any:
    """Reload until ``selector`` holds ``text`` (refusals are written a moment after intake)."""
    deadline = time.monotonic() + patience
    while True:
        found = page.locator(selector).filter(has_text=text)
        if found.count():
            return found.first
        assert time.monotonic() < deadline, f"{text!r} never appeared in {selector}"
        time.sleep(0.3)
        page.reload()
