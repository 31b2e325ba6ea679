"""The amoCRM v4 connector: every operation of ``connectors.base.Connector`` over the REST API."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import structlog

from jivocrm.connectors.amocrm import errors, mapping
from jivocrm.connectors.amocrm.auth import Auth
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
    Metadata,
    Note,
    TaskData,
    UnsortedData,
)
from jivocrm.connectors.http import Response, Transport
from jivocrm.core.errors import AuthError, ConnectorError, FatalError, RetriableError
from jivocrm.core.i18n import Text
from jivocrm.core.phones import national_digits, normalize_email, normalize_phone

log = structlog.get_logger("jivocrm.amocrm")

PAGE_LIMIT = 250  # amoCRM's maximum page size
IDS_PER_FILTER = 50  # ids per filter[id][] request, keeping URLs short
RECENT_NOTES = 50  # one page of an entity's newest notes: enough to find one just written


class AmoCRMConnector(Connector):
    type = "amocrm"

    def __init__(
        self, *, name: str, base_url: str, ui_url: str, auth: Auth, api: Transport, users: Transport
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.ui_url = ui_url.rstrip("/")
        self.auth = auth
        self._api = api
        # Same session and limiter; its classify knows that a 403 on /users means "not an admin".
        self._users_api = users

    # ---- plumbing ----------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        query: str = "",
        transport: Transport | None = None,
    ) -> Response:
        """One API call; a 401 triggers exactly one token refresh and one retry."""
        http = transport or self._api
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        token = await self.auth.token()
        try:
            return await http.request(
                method, url, json_body=body, params=params, headers=_bearer(token)
            )
        except AuthError as exc:
            if exc.status != 401 or not await self.auth.refresh_after_401(token):
                raise
        log.info("token_rejected_retrying", connection=self.name, path=path)
        token = await self.auth.token()
        return await http.request(
            method, url, json_body=body, params=params, headers=_bearer(token)
        )

    async def _pages(
        self,
        path: str,
        key: str,
        params: Mapping[str, str] | None = None,
        query: str = "",
        transport: Transport | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of a HAL list, page by page until ``_links.next`` is gone.

        The page number is counted here rather than following the ``next`` href, so the bearer
        token is never sent to a host other than the configured one.
        """
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            paging = {**(params or {}), "page": str(page), "limit": str(PAGE_LIMIT)}
            response = await self._call(
                "GET", path, params=paging, query=query, transport=transport
            )
            data = response.data
            # amoCRM answers 204 with an empty body when a list or search finds nothing.
            if response.status == 204 or not isinstance(data, dict):
                return items
            items += (data.get("_embedded") or {}).get(key) or []
            if not (data.get("_links") or {}).get("next"):
                return items
            page += 1

    async def _create(self, path: str, key: str, item: dict[str, Any]) -> dict[str, Any]:
        """POST one item; amoCRM write bodies are arrays, and the answer echoes request_id."""
        response = await self._call("POST", path, body=[{**item, "request_id": "0"}])
        try:
            return dict(response.data["_embedded"][key][0])
        except (KeyError, IndexError, TypeError):
            raise errors.unexpected_answer(f"POST {path}") from None

    # ---- users -------------------------------------------------------------------------------
    async def list_users(self) -> list[CrmUser]:
        raw = await self._pages("/api/v4/users", "users", transport=self._users_api)
        return sorted((mapping.to_user(u) for u in raw), key=lambda u: int(u.id))

    # ---- contacts ----------------------------------------------------------------------------
    async def find_contacts(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[Contact]:
        wanted_phones = {e164 for p in phones if p and (e164 := normalize_phone(p))}
        wanted_emails = {e.strip().casefold() for e in emails if e and e.strip()}
        # Quirk: amoCRM's `query` matches the text a field holds, so +7… and 8… are different
        # numbers to it. The national number (9161234567) is in every spelling of the number.
        queries = dict.fromkeys(
            sorted({national_digits(p) for p in wanted_phones}) + sorted(wanted_emails)
        )
        found: dict[int, dict[str, Any]] = {}
        for value in queries:
            for raw in await self._pages("/api/v4/contacts", "contacts", {"query": value}):
                found.setdefault(int(raw["id"]), raw)
        matches = []
        # `query` also hits a contact whose name or note holds the digits or the address: keep
        # only contacts whose phone or e-mail, normalised, is one of those sought.
        for raw in sorted(found.values(), key=lambda c: (c.get("created_at") or 0, c["id"])):
            contact = mapping.to_contact(raw)
            same_phone = wanted_phones & set(contact.phones)
            same_email = wanted_emails & {e.casefold() for e in contact.emails}
            if same_phone or same_email:
                matches.append(contact)
        return matches

    async def create_contact(self, data: ContactData) -> Created:
        made = await self._create("/api/v4/contacts", "contacts", mapping.contact_body(data))
        return Created(str(made["id"]))

    async def update_contact(self, contact_id: str, data: ContactData) -> None:
        cid = mapping.amo_id(contact_id, "contact")
        if data.phones or data.emails:
            # amoCRM replaces a multitext field's whole value list on PATCH: send the union so
            # the contact keeps the phones and e-mails it already had.
            current = await self._call("GET", f"/api/v4/contacts/{cid}")
            if current.status == 204:
                # amoCRM answers 204 with an empty body for a contact it does not have.
                raise FatalError(
                    Text("amoCRM has no contact {id}: was it deleted in amoCRM?", id=cid)
                )
            raw = current.data if isinstance(current.data, dict) else {}
            data = dataclasses.replace(
                data,
                phones=_union(mapping.field_values(raw, "PHONE"), data.phones, normalize_phone),
                emails=_union(mapping.field_values(raw, "EMAIL"), data.emails, normalize_email),
            )
        await self._call("PATCH", f"/api/v4/contacts/{cid}", body=mapping.contact_body(data))

    # ---- deals -------------------------------------------------------------------------------
    async def find_open_deals(self, contact_id: str, pipeline_id: str | None = None) -> list[Deal]:
        cid = mapping.amo_id(contact_id, "contact")
        response = await self._call("GET", f"/api/v4/contacts/{cid}", params={"with": "leads"})
        raw = response.data if isinstance(response.data, dict) else {}
        ids = [int(lead["id"]) for lead in (raw.get("_embedded") or {}).get("leads") or []]
        deals: list[Deal] = []
        for start in range(0, len(ids), IDS_PER_FILTER):
            chunk = ids[start : start + IDS_PER_FILTER]
            query = urlencode([("filter[id][]", str(i)) for i in chunk])
            for lead in await self._pages("/api/v4/leads", "leads", query=query):
                deals.append(mapping.to_deal(lead))
        return sorted(
            (d for d in deals if not d.closed and pipeline_id in (None, d.pipeline_id)),
            key=lambda d: int(d.id),
        )

    async def create_deal(self, data: DealData) -> Created:
        body = mapping.deal_body(data)
        if data.contact_id:
            cid = mapping.amo_id(data.contact_id, "contact")
            mapping.embed(body, "contacts", [{"id": cid, "is_main": True}])
        made = await self._create("/api/v4/leads", "leads", body)
        return Created(str(made["id"]), contact_id=data.contact_id)

    async def update_deal(self, deal_id: str, data: DealData) -> None:
        lid = mapping.amo_id(deal_id, "deal")
        # Tags sent on PATCH would replace the ones managers gave the deal: creation only.
        body = mapping.deal_body(dataclasses.replace(data, tags=[]))
        if body:
            await self._call("PATCH", f"/api/v4/leads/{lid}", body=body)
        if data.contact_id:
            link = {
                "to_entity_id": mapping.amo_id(data.contact_id, "contact"),
                "to_entity_type": "contacts",
            }
            await self._call("POST", f"/api/v4/leads/{lid}/link", body=[link])

    async def create_deal_with_contact(self, deal: DealData, contact: ContactData) -> Created:
        body = mapping.embed(mapping.deal_body(deal), "contacts", [mapping.contact_body(contact)])
        response = await self._call("POST", "/api/v4/leads/complex", body=[body])
        # /leads/complex answers a bare array, not HAL, and its request_id is an array.
        data = response.data
        if not isinstance(data, list) or not data or "id" not in data[0]:
            raise errors.unexpected_answer("POST /api/v4/leads/complex")
        made = data[0]
        contact_id = made.get("contact_id")
        return Created(
            str(made["id"]),
            contact_id=str(contact_id) if contact_id else None,
            extra={"merged": bool(made.get("merged"))},
        )

    # ---- other records -----------------------------------------------------------------------
    async def create_task(self, data: TaskData) -> Created:
        body: dict[str, Any] = {
            "text": data.text,
            "complete_till": int(data.due.timestamp()),
            "task_type_id": 1,  # "call"
        }
        if data.entity_kind and data.entity_id:
            body["entity_type"] = mapping.plural(data.entity_kind)
            body["entity_id"] = mapping.amo_id(data.entity_id, data.entity_kind)
        if data.responsible_id:
            body["responsible_user_id"] = mapping.amo_id(data.responsible_id, "responsible user")
        made = await self._create("/api/v4/tasks", "tasks", body)
        return Created(str(made["id"]))

    async def add_note(self, kind: EntityKind, entity_id: str, text: str) -> Created:
        body = {
            "entity_id": mapping.amo_id(entity_id, kind),
            "note_type": "common",
            "params": {"text": text},
        }
        made = await self._create(f"/api/v4/{mapping.plural(kind)}/notes", "notes", body)
        return Created(str(made["id"]))

    def option_value(self, option_id: str) -> Any:
        # A list field's value is written as {"enum_id": <option id>}.
        return {"enum_id": int(option_id)}

    async def recent_notes(self, kind: EntityKind, entity_id: str) -> list[Note]:
        eid = mapping.amo_id(entity_id, kind)
        params = {"limit": str(RECENT_NOTES), "order[id]": "desc", "filter[note_type][]": "common"}
        response = await self._call(
            "GET", f"/api/v4/{mapping.plural(kind)}/{eid}/notes", params=params
        )
        # amoCRM answers 204 with an empty body when a record has no notes.
        data = response.data if response.status != 204 else None
        items = (data.get("_embedded") or {}).get("notes") if isinstance(data, dict) else None
        return [
            Note(str(item["id"]), str((item.get("params") or {}).get("text") or ""))
            for item in items or []
            if isinstance(item, dict) and "id" in item
        ]

    async def create_unsorted(self, data: UnsortedData) -> Created:
        item = mapping.unsorted_body(data, int(time.time()))
        response = await self._call("POST", "/api/v4/leads/unsorted/forms", body=[item])
        try:
            made = response.data["_embedded"]["unsorted"][0]
            leads = made["_embedded"]["leads"]
            contacts = made["_embedded"].get("contacts") or []
        except (KeyError, IndexError, TypeError):
            raise errors.unexpected_answer("POST /api/v4/leads/unsorted/forms") from None
        return Created(
            str(leads[0]["id"]),
            contact_id=str(contacts[0]["id"]) if contacts else None,
            extra={"uid": made.get("uid")},
        )

    # ---- links, metadata, diagnosis ----------------------------------------------------------
    def entity_url(self, kind: EntityKind, entity_id: str) -> str:
        return f"{self.ui_url}/{mapping.plural(kind)}/detail/{entity_id}"

    async def fetch_metadata(self) -> Metadata:
        pipelines = await self._pages("/api/v4/leads/pipelines", "pipelines")
        fields = [
            mapping.to_field(raw, kind)
            for kind in ("contact", "deal")
            for raw in await self._pages(
                f"/api/v4/{mapping.plural(kind)}/custom_fields", "custom_fields"
            )
        ]
        ordered = sorted(pipelines, key=lambda p: (int(p.get("sort") or 0), int(p["id"])))
        return Metadata(
            pipelines=tuple(mapping.to_pipeline(p) for p in ordered),
            users=tuple(await self.list_users()),
            custom_fields=tuple(sorted(fields, key=lambda f: (f.entity, int(f.id)))),
        )

    async def check(self) -> list[CheckResult]:
        results: list[CheckResult] = []
        answers = Text("{url} answers", url=self.base_url)
        try:
            await self._call("GET", "/api/v4/leads/pipelines")
        except RetriableError as exc:
            if exc.status is None:
                return [CheckResult("reachable", False, exc.message)]
            results.append(CheckResult("reachable", True, answers))
            return [*results, CheckResult("authenticated", False, exc.message)]
        except ConnectorError as exc:
            results.append(CheckResult("reachable", True, answers))
            return [*results, CheckResult("authenticated", False, exc.message)]
        results.append(CheckResult("reachable", True, answers))
        results.append(CheckResult("authenticated", True, Text("the token is accepted")))
        try:
            await self._call(
                "GET", "/api/v4/users", params={"limit": "1"}, transport=self._users_api
            )
        except ConnectorError as exc:
            return [*results, CheckResult("rights", False, exc.message)]
        return [
            *results,
            CheckResult("rights", True, Text("the token's user is an administrator")),
        ]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _union(current: list[str], new: list[str], norm: Callable[[str], str | None]) -> list[str]:
    """``current`` plus the values of ``new`` it lacks; empty when ``new`` is (field untouched)."""
    if not new:
        return []
    seen = {norm(v) or v for v in current}
    return current + [v for v in new if (norm(v) or v) not in seen]
