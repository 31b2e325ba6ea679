"""Every stored run can be shown, whatever it holds: rows as an older version stored them (a lone
surrogate escape in the body, a visitor as text, a body that is not JSON at all) and ids no
store holds. ``runs show`` and ``events explain`` answer with exit 0 or 1, never a crash (70)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from jivocrm.store.base import NewEvent, NewRun
from jivocrm.store.sqlite import SQLiteStore
from jivocrm.testing.daemon import jivocrm

BUNDLE = """\
version: 1
name: b
trigger: {event: chat_finished}
steps:
  - id: source
    type: table_replace
    value: "{{ event.widget_id }}"
    table: {a: Сайт}
    default: Другой
"""
BODIES = {
    "surrogate": b'{"event_name": "chat_finished", "visitor": {"name": "\\ud83d"}}',
    "visitor as text": '{"event_name": "chat_finished", "visitor": "Ира"}'.encode(),
    "not json": b"\xff\xfe not json",
    "not an object": b"[1, 2]",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("odd")
    (root / "bundles").mkdir()
    (root / "jivocrm.yaml").write_text("version: 1\nbundles: bundles/\n", "utf-8")
    (root / "bundles" / "b.yaml").write_text(BUNDLE, "utf-8")

    async def fill() -> None:
        store = SQLiteStore(root / ".jivocrm" / "jivocrm.db")
        await store.open()
        for n, body in enumerate(BODIES.values()):
            run = NewRun("b", f"lane{n}", "v1")
            await store.accept(NewEvent("shop", "chat_finished", f"k{n}", body, 1.0, runs=(run,)))
        await store.close()

    asyncio.run(fill())
    return root


def cli(project: Path, *args: str, after: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*jivocrm(), *args, "--project", str(project), *after],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


@pytest.mark.parametrize("number", range(1, len(BODIES) + 1), ids=list(BODIES))
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_stored_run_can_be_shown(project: Path, number: int, fmt: str) -> None:
    shown = cli(project, "runs", "show", str(number), "--format", fmt)
    explained = cli(project, "events", "explain", str(number), "--format", fmt)
    assert (shown.returncode, explained.returncode) == (0, 0), shown.stderr + explained.stderr
    if fmt == "json":
        json.loads(shown.stdout)


def test_the_replaced_half_emoji_is_visible(project: Path) -> None:
    shown = cli(project, "runs", "show", "1")
    assert "\ufffd" in shown.stdout


@pytest.mark.parametrize("number", [str(2**64), "0", "-5"])
def test_an_id_no_store_holds_is_a_usage_error(project: Path, number: str) -> None:
    shown = cli(project, "runs", "show", after=("--", number))
    assert shown.returncode == 2, shown.stderr
    assert "RUN" in shown.stderr  # click names the argument that is out of range
