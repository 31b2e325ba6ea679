"""CRM state for bundle tests in one neutral shape, whichever CRM the connection is.

In: ``users``/``contacts``/``deals`` of a test become the emulator's seed. Out: the emulator's
state read back as ``contacts`` (id, name, phones in E.164, emails, responsible) and ``deals``
(id, name, pipeline and stage by name and id, price, contacts, and what a CRM adds, such as
``fields`` by code or ``tags``), so one expectation reads the same for every CRM. Each CRM's kit
(``ConnectorSpec.kit``) does the translating.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from ruamel.yaml import YAML

from jivocrm.connectors.kit import CrmKit, Entity


def kit(crm: str) -> CrmKit:
    from jivocrm.connectors import CONNECTORS

    return CONNECTORS[crm].kit()


def write_seed(crm: str, state: Mapping[str, Any], folder: Path, name: str) -> Path:
    """A seed file for the emulator of ``crm`` holding the test's ``state``."""
    path = folder / f"{name}.seed.yaml"
    with path.open("w", encoding="utf-8") as out:
        YAML(typ="safe").dump(kit(crm).seed(state), out)
    return path


def quiet(crm: str, app: web.Application) -> None:
    """Switch the emulator's rate limit off: a test is about what is sent, not when."""
    kit(crm).quiet(app)


def entities(crm: str, app: web.Application) -> dict[str, list[Entity]]:
    """Contacts and deals held by the emulator, in the neutral shape."""
    return kit(crm).entities(app)


__all__ = ["entities", "kit", "quiet", "write_seed"]
