"""Checks beyond the schema: names, references, templates, event fields, connections, secrets."""

from __future__ import annotations

from pathlib import Path

from jivocrm.engine.diagnostics import Diagnostic
from jivocrm.engine.loader import Document


def check_all(root: Path, project: Document, bundles: list[Document]) -> list[Diagnostic]:
    return []
