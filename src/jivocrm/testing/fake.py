"""An in-memory CRM behind the ``Connector`` interface, for unit tests of the runner and steps.

Only where no real counterpart is needed: anything about HTTP, CRM quirks or call counts is
tested against the emulators. ``calls`` lists the operations in order (``"create_contact"``, …),
and ``fail`` makes the next call of an operation raise the given error.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from jivocrm.connectors.base import (
    CheckResult,
    Connector,
    Contact,
    ContactData,
    Created,
    CrmUser,
    CustomField,
    Deal,
    DealData,
    EntityKind,
    LeadData,
    Metadata,
    Pipeline,
    Stage,
    TaskData,
    UnsortedData,
)

USERS = (
    CrmUser("1", "Ольга Петрова", "o.petrova@shop-example.ru"),
    CrmUser("2", "Дмитрий Ковалёв", "d.kovalev@shop-example.ru"),
)
PIPELINES = (
    Pipeline(
        "10",
        "Продажи",
        (
            Stage("101", "Первичный контакт"),
            Stage("102", "Переговоры"),
            Stage("142", "Успех", "won"),
        ),
        is_main=True,
    ),
)
FIELDS = (CustomField("500", "Источник", "deal"), CustomField("600", "Должность", "contact"))


@dataclass
class FakeCRM:
    users: list[CrmUser] = field(default_factory=lambda: list(USERS))
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    leads: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    unsorted: dict[str, Any] = field(default_factory=dict)


class FakeConnector(Connector):
    type = "fake"

    def __init__(self, crm: FakeCRM | None = None, *, type: str = "fake") -> None:
        self.type = type
        self.crm = crm or FakeCRM()
        self.calls: list[str] = []
        self.fail: dict[str, Exception] = {}
        self._ids = itertools.count(1000)

    def _call(self, op: str) -> None:
        self.calls.append(op)
        error = self.fail.pop(op, None)
        if error is not None:
            raise error

    def _new(self) -> str:
        return str(next(self._ids))

    async def list_users(self) -> list[CrmUser]:
        self._call("list_users")
        return list(self.crm.users)

    async def find_contacts(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[Contact]:
        self._call("find_contacts")
        found = []
        for cid, c in self.crm.contacts.items():
            if set(c["phones"]) & set(phones) or set(c["emails"]) & set(emails):
                found.append(Contact(cid, c["name"], tuple(c["phones"]), tuple(c["emails"])))
        return found

    async def create_contact(self, data: ContactData) -> Created:
        self._call("create_contact")
        cid = self._new()
        self.crm.contacts[cid] = {"name": data.name, "phones": data.phones, "emails": data.emails}
        return Created(cid)

    async def update_contact(self, contact_id: str, data: ContactData) -> None:
        self._call("update_contact")
        current = self.crm.contacts[contact_id]
        current["name"] = data.name or current["name"]
        current["phones"] = list(dict.fromkeys(current["phones"] + data.phones))
        current["emails"] = list(dict.fromkeys(current["emails"] + data.emails))

    async def find_open_deals(self, contact_id: str, pipeline_id: str | None = None) -> list[Deal]:
        self._call("find_open_deals")
        return [
            Deal(did, d["name"], d["pipeline_id"], d["stage_id"])
            for did, d in self.crm.deals.items()
            if d["contact_id"] == contact_id and pipeline_id in (None, d["pipeline_id"])
        ]

    async def create_deal(self, data: DealData) -> Created:
        self._call("create_deal")
        did = self._new()
        self.crm.deals[did] = {
            "name": data.name,
            "pipeline_id": data.pipeline_id,
            "stage_id": data.stage_id,
            "contact_id": data.contact_id,
            "custom": data.custom,
        }
        return Created(did, contact_id=data.contact_id)

    async def update_deal(self, deal_id: str, data: DealData) -> None:
        self._call("update_deal")
        self.crm.deals[deal_id]["name"] = data.name

    async def create_deal_with_contact(self, deal: DealData, contact: ContactData) -> Created:
        self._call("create_deal_with_contact")
        cid = self._new()
        self.crm.contacts[cid] = {
            "name": contact.name,
            "phones": contact.phones,
            "emails": contact.emails,
        }
        did = self._new()
        self.crm.deals[did] = {
            "name": deal.name,
            "pipeline_id": deal.pipeline_id,
            "stage_id": deal.stage_id,
            "contact_id": cid,
            "custom": deal.custom,
        }
        return Created(did, contact_id=cid)

    async def create_lead(self, data: LeadData) -> Created:
        self._call("create_lead")
        lid = self._new()
        self.crm.leads[lid] = data
        return Created(lid)

    async def create_task(self, data: TaskData) -> Created:
        self._call("create_task")
        tid = self._new()
        self.crm.tasks[tid] = data
        return Created(tid)

    async def add_note(self, kind: EntityKind, entity_id: str, text: str) -> Created:
        self._call("add_note")
        nid = self._new()
        self.crm.notes[nid] = {"kind": kind, "entity_id": entity_id, "text": text}
        return Created(nid)

    async def create_unsorted(self, data: UnsortedData) -> Created:
        self._call("create_unsorted")
        lid = self._new()
        self.crm.unsorted[lid] = data
        return Created(lid, contact_id=self._new(), extra={"uid": f"uid-{lid}"})

    def entity_url(self, kind: EntityKind, entity_id: str) -> str:
        return f"https://fake.example/{kind}/{entity_id}"

    async def fetch_metadata(self) -> Metadata:
        self._call("fetch_metadata")
        return Metadata(pipelines=PIPELINES, users=tuple(self.crm.users), custom_fields=FIELDS)

    async def check(self) -> list[CheckResult]:
        return [CheckResult("reachable", True, "in memory")]


__all__ = ["FakeCRM", "FakeConnector"]
