"""What a CRM's folder gives tests: the kit bundle tests seed and read its emulator with, and its
entry into the connector contract suite (``jivocrm.testing.contract``).

A CRM's ``ConnectorSpec.kit`` loads its ``CrmKit`` on first use, so nothing here is imported
unless a test runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from jivocrm.connectors.base import Connector

# One record of a CRM in the neutral shape bundle tests compare: a contact is ``id, name,
# phones (E.164), emails, responsible``, a deal ``id, name, pipeline, pipeline_id, stage,
# stage_id, price, contacts, responsible`` (plus what a CRM adds, such as ``fields``).
Entity = dict[str, Any]


class EmulatorProbe(Protocol):
    """Read access to the emulator behind a connector, in CRM-neutral terms."""

    async def count(self, collection: str) -> int:
        """How many records the emulator holds: users, contacts, deals, leads, notes, tasks,
        unsorted (0 for a collection the CRM does not have)."""

    async def request_count(self) -> int:
        """How many API requests (auth endpoints included) the emulator has answered so far."""

    async def store_contact(self, name: str, phone: str) -> str:
        """Put a contact straight into the emulator with ``phone`` written exactly so (as a
        person typed it in the CRM), bypassing the connector; its id."""


@dataclass
class ContractTarget:
    connector: Connector
    bad_credentials: Connector
    probe: EmulatorProbe
    user_login: str
    page_size: int
    # The CRM's capabilities (``ConnectorSpec.capabilities``): the contract checks an operation
    # the CRM lacks for its refusal instead.
    capabilities: frozenset[str] = field(default_factory=frozenset)


TargetFactory = Callable[["aiohttp.ClientSession"], AbstractAsyncContextManager[ContractTarget]]


@dataclass(frozen=True)
class CrmKit:
    """The test-side parts of a CRM's plug-in."""

    # A bundle test's ``crm:`` state (``users``, ``contacts``, ``deals``) → the emulator's seed.
    seed: Callable[[Mapping[str, Any]], dict[str, Any]]
    # Switch the emulator's rate limit off: a bundle test is about what is sent, not when.
    quiet: Callable[[web.Application], None]
    # The emulator's records in the neutral shape: ``contacts``, ``deals`` and what else it keeps.
    entities: Callable[[web.Application], dict[str, list[Entity]]]
    # The connector and its emulator for the contract suite.
    contract_target: TargetFactory


# ---- helpers of the kits: the neutral shape ------------------------------------------------------
def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def pick(items: list[dict[str, Any]], value: Any, id_key: str, name_key: str) -> Any:
    """The seed's item whose id or name is ``value`` (a test names a pipeline either way)."""
    for item in items:
        if str(item.get(id_key)) == str(value) or str(item.get(name_key)) == str(value):
            return item
    raise ValueError(f"no {value!r} in the emulator's seed")


def replacing_records(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """Contacts and deals replace the demo account's together: a demo deal must not point at
    a contact the test removed."""
    if "contacts" in state or "deals" in state:
        return {"contacts": [], "deals": [], **state}
    return state


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def contact_entity(
    cid: Any, name: Any, phones: Any, emails: Any, responsible: Any = None
) -> Entity:
    from jivocrm.core.phones import normalize_email, normalize_phone

    return {
        "id": str(cid),
        "name": name,
        "phones": [p for p in (normalize_phone(str(v)) for v in phones if v) if p],
        "emails": [e for e in (normalize_email(str(v)) for v in emails if v) if e],
        "responsible": text_or_none(responsible),
    }


__all__ = [
    "ContractTarget",
    "CrmKit",
    "EmulatorProbe",
    "Entity",
    "TargetFactory",
    "as_list",
    "contact_entity",
    "pick",
    "replacing_records",
    "text_or_none",
]
