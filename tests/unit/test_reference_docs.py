"""docs/reference.md and docs/cli.md are what the code generates: they cannot drift."""

from __future__ import annotations

from pathlib import Path

from jivocrm.reference import bundle_reference, cli_reference

ROOT = Path(__file__).resolve().parents[2]


def test_bundle_reference_is_current() -> None:
    committed = (ROOT / "docs" / "reference.md").read_text("utf-8")
    assert committed == bundle_reference(), "run `make docs` and commit docs/"


def test_cli_reference_is_current() -> None:
    committed = (ROOT / "docs" / "cli.md").read_text("utf-8")
    assert committed == cli_reference(), "run `make docs` and commit docs/"


def test_reference_documents_every_step_and_computed_field() -> None:
    text = bundle_reference()
    for step in ("find_employee", "new_contact", "new_deal", "jivo_reply", "unsorted_lead"):
        assert f"### `{step}`" in text
    for field in ("event.operator", "event.transcript", "event.phone", "event.email"):
        assert f"`{field}`" in text
