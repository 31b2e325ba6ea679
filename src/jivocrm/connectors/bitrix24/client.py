"""The Bitrix24 connector: the operations steps need, in as few REST calls as the API allows."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from jivocrm.connectors.base import (
    CheckResult,
    Connector,
    Contact,
    ContactData,
    Created,
    CrmUser,
    Deal,
    DealData,
    EntityKind,
    LeadData,
    Metadata,
    Note,
    TaskData,
)
from jivocrm.connectors.bitrix24.errors import WEBHOOK_PLACE
from jivocrm.connectors.bitrix24.metadata import fetch_metadata
from jivocrm.connectors.bitrix24.rest import BatchResult, Rest, as_items, as_map
from jivocrm.core.errors import AuthError, ConnectorError, FatalError, RetriableError
from jivocrm.core.i18n import Text
from jivocrm.core.phones import normalize_email, normalize_phone, spellings

log = structlog.get_logger("jivocrm.bitrix24")

NEEDED_SCOPES = ("crm", "user", "task")
DEAL_TYPE = 2  # the entityTypeId of deals in crm.item.*
DEAL_ITEM_FIELDS = ["id", "title", "categoryId", "stageId", "stageSemanticId", "contactIds"]
FINDBYCOMM_MAX_VALUES = 20
TASK_BINDING = {"deal": "D", "contact": "C", "lead": "L", "company": "CO"}
_STAGE_OF_FUNNEL = re.compile(r"^C(\d+):")


def _multi(values: Sequence[str]) -> list[dict[str, str]]:
    return [{"VALUE": value, "VALUE_TYPE": "WORK"} for value in values]


def _phones(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(p for p in map(normalize_phone, values) if p))


def _emails(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(e for e in map(normalize_email, values) if e))


def _written(commands: Mapping[str, Any], answer: BatchResult) -> dict[str, str]:
    """The id each command of a halting batch made, in order; where one failed (and so stopped
    the rest), its error carries what was made before it (``written``), so nothing is made
    again."""
    written: dict[str, str] = {}
    try:
        for key in commands:
            written[key] = _id(answer.get(key))
    except ConnectorError as exc:
        exc.written = written
        raise
    return written


def _id(value: Any) -> str:
    return str(value)


# crm.item.* names of the crm.deal.* fields a deal lookup reads.
LEGACY_DEAL = {
    "id": "ID",
    "title": "TITLE",
    "categoryId": "CATEGORY_ID",
    "stageId": "STAGE_ID",
    "stageSemanticId": "STAGE_SEMANTIC_ID",
}


def _open(items: Sequence[Mapping[str, Any]]) -> list[Deal]:
    """Deals (crm.item.* fields) not won or lost: STAGE_SEMANTIC_ID S is won, F lost."""
    return [
        Deal(
            id=_id(item["id"]),
            name=item.get("title"),
            pipeline_id=_id(item.get("categoryId") or 0),
            stage_id=item.get("stageId"),
            closed=False,
        )
        for item in items
        if item.get("stageSemanticId") not in ("S", "F")
    ]


class Bitrix24Connector(Connector):
    search_in_one_call = True  # phones and e-mails in one `batch`
    type = "bitrix24"

    def __init__(self, rest: Rest, *, portal_url: str, default_user: str | None = None) -> None:
        self.rest = rest
        self.portal_url = portal_url.rstrip("/")
        # The webhook's user: Bitrix24 needs a responsible person for a task.
        self.default_user = default_user

    # ---- users -------------------------------------------------------------------------------
    async def list_users(self) -> list[CrmUser]:
        users = await self.rest.list_all("user.get", {"sort": "ID", "order": "ASC"})
        return [
            CrmUser(
                id=_id(u["ID"]),
                name=" ".join(p for p in (u.get("NAME"), u.get("LAST_NAME")) if p) or _id(u["ID"]),
                email=u.get("EMAIL") or None,
                active=bool(u.get("ACTIVE", True)),
            )
            for u in users
        ]

    # ---- contacts ----------------------------------------------------------------------------
    async def find_contact_ids(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        return await self._find_ids("CONTACT", phones, emails)

    async def _find_ids(
        self, entity: str, phones: Sequence[str], emails: Sequence[str]
    ) -> list[tuple[str, str]]:
        # crm.duplicate.findbycomm answers ids only: phones and e-mails in one request.
        # Quirk: it compares the number as written (only an extension is ignored), so a
        # contact stored as 8 (916) 123-45-67 is no duplicate of +79161234567 to it: each
        # number is looked up in the spellings people and forms store it in.
        searches: dict[str, tuple[str, dict[str, Any]]] = {}
        for n, phone in enumerate(_phones(phones)):
            searches[f"phone{n}"] = (
                "crm.duplicate.findbycomm",
                {"type": "PHONE", "values": spellings(phone), "entity_type": entity},
            )
        values = _emails(emails)
        for start in range(0, len(values), FINDBYCOMM_MAX_VALUES):
            searches[f"email{start}"] = (
                "crm.duplicate.findbycomm",
                {
                    "type": "EMAIL",
                    "values": values[start : start + FINDBYCOMM_MAX_VALUES],
                    "entity_type": entity,
                },
            )
        if not searches:
            return []
        if len(searches) == 1:
            ((method, params),) = searches.values()
            found = {next(iter(searches)): await self.rest.result(method, params)}
        else:
            # Phones and e-mails in one request: the portal's bucket counts requests, not calls.
            answer = await self.rest.batch(searches)
            found = {key: answer.get(key) for key in searches}
        by: dict[int, str] = {}
        for key, result in found.items():
            for raw in as_items(as_map(result).get(entity)):
                # A phone match wins over an e-mail match of the same contact.
                if by.get(int(raw)) != "phone":
                    by[int(raw)] = "phone" if key.startswith("phone") else "email"
        return [(str(i), by[i]) for i in sorted(by)]

    async def find_contacts(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[Contact]:
        ids = [int(i) for i, _ in await self.find_contact_ids(phones=phones, emails=emails)]
        if not ids:
            return []
        records = await self.rest.list_all(
            "crm.contact.list",
            {
                "filter": {"@ID": ids},
                # Quirk: crm.contact.list returns PHONE and EMAIL only when selected by name.
                "select": ["ID", "NAME", "LAST_NAME", "ASSIGNED_BY_ID", "PHONE", "EMAIL"],
                "order": {"ID": "ASC"},
            },
        )
        return [self._contact(record) for record in records]

    @staticmethod
    def _contact(record: dict[str, Any]) -> Contact:
        name = " ".join(p for p in (record.get("NAME"), record.get("LAST_NAME")) if p)
        return Contact(
            id=_id(record["ID"]),
            name=name or None,
            phones=tuple(
                p for i in as_items(record.get("PHONE")) if (p := normalize_phone(i.get("VALUE")))
            ),
            emails=tuple(
                e for i in as_items(record.get("EMAIL")) if (e := normalize_email(i.get("VALUE")))
            ),
            responsible_id=_id(record["ASSIGNED_BY_ID"]) if record.get("ASSIGNED_BY_ID") else None,
        )

    def _contact_fields(
        self, data: ContactData, phones: Sequence[str], emails: Sequence[str]
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if data.first_name or data.name:
            fields["NAME"] = data.first_name or data.name
        if data.last_name:
            fields["LAST_NAME"] = data.last_name
        if phones:
            fields["PHONE"] = _multi(phones)
        if emails:
            fields["EMAIL"] = _multi(emails)
        if data.responsible_id:
            fields["ASSIGNED_BY_ID"] = data.responsible_id
        return {**fields, **data.custom, **data.extra}

    async def create_contact(self, data: ContactData) -> Created:
        fields = self._contact_fields(data, _phones(data.phones), _emails(data.emails))
        return Created(_id(await self.rest.result("crm.contact.add", {"fields": fields})))

    async def _new_multifields(
        self, entity: str, record_id: str, phones: Sequence[str], emails: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """The phones and e-mails the record lacks. Quirk: crm.contact.update (and
        crm.lead.update) appends multifield items sent without an ID instead of replacing the
        list, so only those are sent."""
        phones, emails = _phones(phones), _emails(emails)
        if not (phones or emails):
            return phones, emails
        current = self._contact(await self.rest.result(f"crm.{entity}.get", {"id": record_id}))
        return (
            [p for p in phones if p not in current.phones],
            [e for e in emails if e not in current.emails],
        )

    async def update_contact(self, contact_id: str, data: ContactData) -> None:
        phones, emails = await self._new_multifields(
            "contact", contact_id, data.phones, data.emails
        )
        fields = self._contact_fields(data, phones, emails)
        if fields:
            await self.rest.result("crm.contact.update", {"id": contact_id, "fields": fields})

    # ---- deals -------------------------------------------------------------------------------
    async def find_open_deals(self, contact_id: str, pipeline_id: str | None = None) -> list[Deal]:
        """The contact's open deals, however it is linked to them.

        Quirk: crm.deal.list's CONTACT_ID filter finds only the deals whose *primary* contact it
        is, and crm.deal.get/list carry no contact list; crm.item.list knows every link
        (``contactIds``), so it is asked, and each deal it returns is checked to hold the contact.
        A portal that refuses the filter gets the primary-contact lookup instead.
        """
        cid = int(contact_id) if contact_id.isdigit() else contact_id
        # stageSemanticId is P while a deal is in progress, S when won, F when lost.
        flt: dict[str, Any] = {"@contactIds": [cid], "stageSemanticId": "P"}
        if pipeline_id is not None:
            flt["categoryId"] = pipeline_id
        try:
            items = await self.rest.list_all(
                "crm.item.list",
                {
                    "entityTypeId": DEAL_TYPE,
                    "filter": flt,
                    "select": DEAL_ITEM_FIELDS,
                    "order": {"id": "ASC"},
                },
                key="items",
            )
        except FatalError as exc:
            if exc.code != "INVALID_ARG_VALUE":
                raise
            log.warning("bitrix24_deal_lookup_primary_only", error=str(exc))
            return await self._open_deals_of_primary(contact_id, pipeline_id)
        linked = [
            i for i in items if str(contact_id) in {str(c) for c in as_items(i.get("contactIds"))}
        ]
        return _open(linked)

    async def _open_deals_of_primary(self, contact_id: str, pipeline_id: str | None) -> list[Deal]:
        flt: dict[str, Any] = {"CONTACT_ID": contact_id, "STAGE_SEMANTIC_ID": "P"}
        if pipeline_id is not None:
            flt["CATEGORY_ID"] = pipeline_id
        records = await self.rest.list_all(
            "crm.deal.list",
            {
                "filter": flt,
                "select": ["ID", "TITLE", "CATEGORY_ID", "STAGE_ID", "STAGE_SEMANTIC_ID"],
                "order": {"ID": "ASC"},
            },
        )
        return _open(
            [{name: r.get(legacy) for name, legacy in LEGACY_DEAL.items()} for r in records]
        )

    @staticmethod
    def _deal_fields(data: DealData) -> dict[str, Any]:
        if data.tags:
            raise FatalError(
                Text(
                    "Bitrix24 deals have no tags: remove `tags` from the step (SOURCE_DESCRIPTION"
                    " under `extra` holds a channel or a note)"
                )
            )
        fields: dict[str, Any] = {}
        pipeline, stage = data.pipeline_id, data.stage_id
        if stage and pipeline is None and (match := _STAGE_OF_FUNNEL.match(stage)):
            pipeline = match[1]  # "C3:NEW" lives in funnel 3
        if stage and ":" not in stage and pipeline not in (None, "0"):
            stage = f"C{pipeline}:{stage}"  # stage ids of funnels other than 0 carry C{id}:
        for key, value in (
            ("TITLE", data.name),
            ("CATEGORY_ID", pipeline),
            ("STAGE_ID", stage),
            ("OPPORTUNITY", data.price),
            ("ASSIGNED_BY_ID", data.responsible_id),
        ):
            if value is not None:
                fields[key] = value
        if data.contact_id:
            fields["CONTACT_IDS"] = [data.contact_id]
        return {**fields, **data.custom, **data.extra}

    async def create_deal(self, data: DealData) -> Created:
        return Created(
            _id(await self.rest.result("crm.deal.add", {"fields": self._deal_fields(data)}))
        )

    async def update_deal(self, deal_id: str, data: DealData) -> None:
        fields = self._deal_fields(data)
        fields.pop("CATEGORY_ID", None)  # a deal moves between funnels by its stage, not this
        # CONTACT_IDS on update replaces the deal's whole contact list (and its primary one);
        # the deal being updated was found by the contact, so the link is there already.
        fields.pop("CONTACT_IDS", None)
        if fields:
            await self.rest.result("crm.deal.update", {"id": deal_id, "fields": fields})

    async def create_deal_with_contact(self, deal: DealData, contact: ContactData) -> Created:
        """Contact and deal in ONE batch; the deal names the contact as ``$result[contact]``."""
        contact_fields = self._contact_fields(
            contact, _phones(contact.phones), _emails(contact.emails)
        )
        deal.contact_id = "$result[contact]"
        commands = {
            "contact": ("crm.contact.add", {"fields": contact_fields}),
            "deal": ("crm.deal.add", {"fields": self._deal_fields(deal)}),
        }
        written = _written(commands, await self.rest.batch(commands, halt=True))
        deal.contact_id = written["contact"]
        return Created(written["deal"], contact_id=written["contact"])

    async def create_deal_with_note(
        self, deal: DealData, contact: ContactData | None, kind: EntityKind, text: str
    ) -> Created:
        """Contact (when new), deal and the timeline comment in ONE batch: the deal names the
        contact as ``$result[contact]``, the comment the deal as ``$result[deal]``."""
        commands: dict[str, tuple[str, dict[str, Any]]] = {}
        if contact is not None:
            fields = self._contact_fields(contact, _phones(contact.phones), _emails(contact.emails))
            commands["contact"] = ("crm.contact.add", {"fields": fields})
            deal.contact_id = "$result[contact]"
        commands["deal"] = ("crm.deal.add", {"fields": self._deal_fields(deal)})
        comment = {"ENTITY_TYPE": kind, "ENTITY_ID": "$result[deal]", "COMMENT": text}
        commands["note"] = ("crm.timeline.comment.add", {"fields": comment})
        written = _written(commands, await self.rest.batch(commands, halt=True))
        if "contact" in written:
            deal.contact_id = written["contact"]
        return Created(
            written["note"], contact_id=written.get("contact"), extra={"deal_id": written["deal"]}
        )

    # ---- other records -----------------------------------------------------------------------
    @staticmethod
    def _lead_fields(
        data: LeadData, phones: Sequence[str], emails: Sequence[str]
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, value in (
            ("TITLE", data.title),
            ("NAME", data.name),
            ("LAST_NAME", data.last_name),
            ("STATUS_ID", data.status_id),
            ("SOURCE_ID", data.source_id),
            ("ASSIGNED_BY_ID", data.responsible_id),
            ("COMMENTS", data.comments),
            ("CONTACT_ID", data.contact_id),
        ):
            if value is not None:
                fields[key] = value
        if phones:
            fields["PHONE"] = _multi(phones)
        if emails:
            fields["EMAIL"] = _multi(emails)
        return {**fields, **data.custom, **data.extra}

    async def create_lead(self, data: LeadData) -> Created:
        fields = self._lead_fields(data, _phones(data.phones), _emails(data.emails))
        return Created(_id(await self.rest.result("crm.lead.add", {"fields": fields})))

    async def find_lead_ids(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        return await self._find_ids("LEAD", phones, emails)

    async def update_lead(self, lead_id: str, data: LeadData) -> None:
        phones, emails = await self._new_multifields("lead", lead_id, data.phones, data.emails)
        fields = self._lead_fields(data, phones, emails)
        fields.pop("STATUS_ID", None)  # a found lead keeps the stage a manager moved it to
        if fields:
            await self.rest.result("crm.lead.update", {"id": lead_id, "fields": fields})

    async def create_task(self, data: TaskData) -> Created:
        responsible = data.responsible_id or self.default_user
        if responsible is None:
            raise FatalError(
                Text("Bitrix24 tasks need a responsible user: set `responsible` on the step")
            )
        fields: dict[str, Any] = {
            "TITLE": data.title or data.text.strip().splitlines()[0][:250],
            "DESCRIPTION": data.text,
            "RESPONSIBLE_ID": responsible,
            "DEADLINE": data.due.isoformat(timespec="seconds"),
        }
        if data.entity_kind and data.entity_id:
            fields["UF_CRM_TASK"] = [f"{TASK_BINDING[data.entity_kind]}_{data.entity_id}"]
        result = await self.rest.result("tasks.task.add", {"fields": fields})
        return Created(_id(as_map(as_map(result).get("task")).get("id")))

    async def add_note(self, kind: EntityKind, entity_id: str, text: str) -> Created:
        fields = {"ENTITY_TYPE": kind, "ENTITY_ID": entity_id, "COMMENT": text}
        return Created(_id(await self.rest.result("crm.timeline.comment.add", {"fields": fields})))

    async def recent_notes(self, kind: EntityKind, entity_id: str) -> list[Note]:
        # One page (50, the method's page size) of the record's comments, newest first.
        params = {
            "filter": {"ENTITY_ID": entity_id, "ENTITY_TYPE": kind},
            "order": {"ID": "DESC"},
            "select": ["ID", "COMMENT"],
        }
        found = await self.rest.result("crm.timeline.comment.list", params)
        return [
            Note(str(item["ID"]), str(item.get("COMMENT") or ""))
            for item in as_items(found)
            if isinstance(item, dict) and "ID" in item
        ]

    # ---- links, metadata, diagnosis ----------------------------------------------------------
    def entity_url(self, kind: EntityKind, entity_id: str) -> str:
        return f"{self.portal_url}/crm/{kind}/details/{entity_id}/"

    async def fetch_metadata(self) -> Metadata:
        return await fetch_metadata(self.rest, await self.list_users())

    async def check(self) -> list[CheckResult]:
        try:
            answer = await self.rest.batch({"profile": ("profile", {}), "scope": ("scope", {})})
            profile, scopes = as_map(answer.get("profile")), answer.get("scope")
        except RetriableError as exc:
            reached = exc.status is not None
            return [CheckResult("reachable", reached, exc.message)]
        except (AuthError, FatalError) as exc:
            return [
                CheckResult("reachable", True, Text("the portal answered")),
                CheckResult("authenticated", False, exc.message),
            ]
        who = " ".join(p for p in (profile.get("NAME"), profile.get("LAST_NAME")) if p)
        user = Text("calls run as user {id} {name}", id=profile.get("ID"), name=who)
        results = [
            CheckResult("reachable", True, Text("the portal answered")),
            CheckResult("authenticated", True, user),
        ]
        missing = [s for s in NEEDED_SCOPES if s not in as_items(scopes)]
        where = Text("the application's settings") if self.rest.auth.oauth else WEBHOOK_PLACE
        if missing:
            detail = Text(
                "missing scope(s) {scopes}: add them in {where}",
                scopes=", ".join(missing),
                where=where,
            )
        else:
            detail = Text("scopes {scopes} granted", scopes=", ".join(NEEDED_SCOPES))
        results.append(CheckResult("rights", not missing, detail))
        return results


__all__ = ["Bitrix24Connector", "ConnectorError"]
