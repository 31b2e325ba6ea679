"""The RetailCRM API v5 connector: every operation of ``connectors.base.Connector`` over HTTP.

Requests carry the key in ``X-API-KEY``; writes are form bodies whose entity travels as JSON text
in one field (``customer=…``) with the store's code in ``site``; lists page by ``limit``/``page``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

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
    Metadata,
    Note,
    TaskData,
)
from jivocrm.connectors.http import Response, Transport
from jivocrm.connectors.retailcrm import errors, mapping
from jivocrm.core.errors import ConnectorError, RetriableError, StepError
from jivocrm.core.i18n import Text
from jivocrm.core.phones import national_digits, normalize_email, normalize_phone

log = structlog.get_logger("jivocrm.retailcrm")

PAGE_LIMIT = 100  # the largest page RetailCRM serves
# What the connector does, as the key's access list names it.
SCOPES = (
    "customer_read",
    "customer_write",
    "order_read",
    "order_write",
    "task_write",
    "user_read",
    "reference_read",
)
TASK_TIME = "%Y-%m-%d %H:%M"  # RetailCRM's task datetime: minutes, no seconds
RECENT_NOTES = 20  # the notes a resumed note step looks through (one page)


class RetailCRMConnector(Connector):
    type = "retailcrm"

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        ui_url: str,
        api: Transport,
        api_key: str,
        site: str | None = None,
        order_method: str | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.ui_url = ui_url.rstrip("/")
        self._api = api
        self._key = api_key
        self.site = site
        self.order_method = order_method
        self._kinds: dict[str, str] | None = None  # status code → open/won/lost
        # order id → (its customer, its number), from the orders this connector made or read:
        # a note on the order then costs no read of it.
        self._owners: dict[int, tuple[int, str]] = {}

    # ---- plumbing ----------------------------------------------------------------------------
    async def _get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        url = f"{self.base_url}{path}" + (f"?{urlencode(list(query))}" if query else "")
        response = await self._api.request("GET", url, headers={"X-API-KEY": self._key})
        return _body(response, f"GET {path}")

    async def _post(self, path: str, form: Mapping[str, str]) -> dict[str, Any]:
        response = await self._api.request(
            "POST", f"{self.base_url}{path}", form=dict(form), headers={"X-API-KEY": self._key}
        )
        return _body(response, f"POST {path}")

    async def _pages(
        self, path: str, key: str, query: Sequence[tuple[str, str]] = ()
    ) -> list[dict[str, Any]]:
        """Every item of a list, page by page until ``pagination`` says there are no more."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            data = await self._get(path, [*query, ("limit", str(PAGE_LIMIT)), ("page", str(page))])
            items += [i for i in data.get(key) or [] if isinstance(i, dict)]
            paging = data.get("pagination") or {}
            if page >= int(paging.get("totalPageCount") or 1):
                return items
            page += 1

    def _site(self, pipeline_id: str | None = None) -> dict[str, str]:
        site = pipeline_id or self.site
        return {"site": site} if site else {}

    async def _stage_kinds(self) -> dict[str, str]:
        if self._kinds is None:
            groups = await self._get("/api/v5/reference/status-groups")
            self._kinds = mapping.stage_kinds(_keyed(groups.get("statusGroups")))
        return self._kinds

    # ---- users -------------------------------------------------------------------------------
    async def list_users(self) -> list[CrmUser]:
        raw = await self._pages("/api/v5/users", "users")
        return sorted((mapping.to_user(u) for u in raw), key=lambda u: int(u.id))

    async def find_user(self, login: str) -> CrmUser | None:
        # One request: RetailCRM filters users by e-mail itself (the match is confirmed here).
        wanted = login.strip().casefold()
        if not wanted:
            return None
        raw = await self._pages("/api/v5/users", "users", [("filter[email]", login.strip())])
        for user in sorted((mapping.to_user(u) for u in raw), key=lambda u: int(u.id)):
            if (user.email or "").strip().casefold() == wanted:
                return user
        return None

    # ---- contacts ----------------------------------------------------------------------------
    async def find_contacts(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[Contact]:
        wanted_phones = {p for p in phones if p}
        wanted_emails = {e for e in (normalize_email(x) for x in emails) if e}
        # RetailCRM searches phones through the `name` filter, by the digits of the number as it
        # was stored: the national number is what "+7 916 …", "8 916 …" and "916 …" share.
        queries = [("filter[name]", d) for p in sorted(wanted_phones) if (d := national_digits(p))]
        queries += [("filter[email]", e) for e in sorted(wanted_emails)]
        found: dict[int, dict[str, Any]] = {}
        for query in dict.fromkeys(queries):
            for raw in await self._pages("/api/v5/customers", "customers", [query]):
                found.setdefault(int(raw["id"]), raw)
        matches = []
        # `name` also matches names and parts of numbers: keep only customers that really hold
        # one of the phones (compared as E.164) or e-mails.
        for raw in (found[k] for k in sorted(found)):
            contact = mapping.to_contact(raw)
            if wanted_phones & set(contact.phones) or wanted_emails & set(contact.emails):
                matches.append(contact)
        return matches

    async def create_contact(self, data: ContactData) -> Created:
        body = mapping.customer_body(data)
        made = await self._post(
            "/api/v5/customers/create", {"customer": mapping.dumps(body), **self._site()}
        )
        return Created(str(_id(made, "POST /api/v5/customers/create")))

    async def update_contact(self, contact_id: str, data: ContactData) -> None:
        cid = mapping.numeric(contact_id, "customer")
        phones = None
        if data.phones:
            # An edit replaces the whole phone list: send the union, so the customer keeps the
            # numbers it already had.
            current = await self._get(f"/api/v5/customers/{cid}", [("by", "id")])
            stored = [
                str(p.get("number"))
                for p in (current.get("customer") or {}).get("phones") or []
                if isinstance(p, dict) and p.get("number")
            ]
            known = {normalize_phone(p) or p for p in stored}
            phones = stored + [p for p in data.phones if p not in known]
        body = mapping.customer_body(data, phones)
        if body:
            form = {"customer": mapping.dumps(body), "by": "id", **self._site()}
            await self._post(f"/api/v5/customers/{cid}/edit", form)

    # ---- deals -------------------------------------------------------------------------------
    async def find_open_deals(self, contact_id: str, pipeline_id: str | None = None) -> list[Deal]:
        query = [("filter[customerId]", str(mapping.numeric(contact_id, "customer")))]
        if pipeline_id:
            query.append(("filter[sites][]", pipeline_id))
        raw = await self._pages("/api/v5/orders", "orders", query)
        for order in raw:
            self._remember(order)
        kinds = await self._stage_kinds()
        deals = [mapping.to_deal(o, kinds) for o in raw]
        return sorted(
            (d for d in deals if not d.closed and pipeline_id in (None, d.pipeline_id)),
            key=lambda d: int(d.id),
        )

    async def create_deal(self, data: DealData) -> Created:
        body = mapping.order_body(data, self.order_method)
        made = await self._post(
            "/api/v5/orders/create",
            {"order": mapping.dumps(body), **self._site(data.pipeline_id)},
        )
        order_id = _id(made, "POST /api/v5/orders/create")
        self._remember({"id": order_id, **(made.get("order") or {})})
        return Created(str(order_id), contact_id=data.contact_id)

    def _remember(self, order: Mapping[str, Any]) -> None:
        owner = order.get("customer")
        if isinstance(owner, dict) and owner.get("id") is not None and order.get("id"):
            self._owners[int(order["id"])] = (int(owner["id"]), str(order.get("number") or ""))

    async def update_deal(self, deal_id: str, data: DealData) -> None:
        oid = mapping.numeric(deal_id, "order")
        body = mapping.order_body(dataclasses.replace(data))
        if body:
            form = {"order": mapping.dumps(body), "by": "id", **self._site(data.pipeline_id)}
            await self._post(f"/api/v5/orders/{oid}/edit", form)

    # ---- other records -----------------------------------------------------------------------
    async def create_task(self, data: TaskData) -> Created:
        performer = data.responsible_id or await self._default_manager()
        task: dict[str, Any] = {
            "text": data.title or data.text,
            "datetime": data.due.strftime(TASK_TIME),
            "performerId": mapping.numeric(performer, "manager"),
        }
        if data.title:
            task["commentary"] = data.text
        if data.entity_kind == "contact" and data.entity_id:
            task["customer"] = {"id": mapping.numeric(data.entity_id, "customer")}
        elif data.entity_kind == "deal" and data.entity_id:
            task["order"] = {"id": mapping.numeric(data.entity_id, "order")}
        made = await self._post("/api/v5/tasks/create", {"task": mapping.dumps(task)})
        return Created(str(_id(made, "POST /api/v5/tasks/create")))

    async def _default_manager(self) -> str:
        # A RetailCRM task must have a performer: the first active manager when none is mapped.
        for user in await self.list_users():
            if user.active:
                return user.id
        raise StepError("RetailCRM: a task needs a performer and the account has no active user")

    async def add_note(self, kind: EntityKind, entity_id: str, text: str) -> Created:
        customer, prefix = await self._note_owner(kind, entity_id)
        note = {"text": prefix + text, "customer": {"id": customer}}
        made = await self._post("/api/v5/customers/notes/create", {"note": mapping.dumps(note)})
        return Created(str(_id(made, "POST /api/v5/customers/notes/create")))

    async def recent_notes(self, kind: EntityKind, entity_id: str) -> list[Note]:
        customer, prefix = await self._note_owner(kind, entity_id)
        query = [("filter[customerIds][]", str(customer)), ("limit", str(RECENT_NOTES))]
        data = await self._get("/api/v5/customers/notes", query)
        notes = [n for n in data.get("notes") or [] if isinstance(n, dict) and "id" in n]
        return [
            Note(str(n["id"]), str(n.get("text") or "").removeprefix(prefix))
            for n in sorted(notes, key=lambda n: int(n["id"]), reverse=True)
            if str(n.get("text") or "").startswith(prefix)
        ]

    async def _note_owner(self, kind: EntityKind, entity_id: str) -> tuple[int, str]:
        """The customer a note of ``kind`` ``entity_id`` is kept on, and the text it starts with.

        RetailCRM keeps notes on customers: an order's note goes to its customer, opening with
        the order it is about (``Заказ 7001A: …``)."""
        if kind == "contact":
            return mapping.numeric(entity_id, "customer"), ""
        if kind != "deal":
            raise StepError(
                Text("RetailCRM keeps notes on customers and orders, not on a {kind}", kind=kind)
            )
        oid = mapping.numeric(entity_id, "order")
        if oid not in self._owners:
            order = (await self._get(f"/api/v5/orders/{oid}", [("by", "id")])).get("order") or {}
            self._remember({"id": oid, **order})
        if oid not in self._owners:
            raise StepError(
                Text("RetailCRM: order {id} has no customer to keep the note on", id=oid)
            )
        customer, number = self._owners[oid]
        return customer, f"Заказ {number or oid}: "

    # ---- links, metadata, diagnosis ----------------------------------------------------------
    def entity_url(self, kind: EntityKind, entity_id: str) -> str:
        if kind == "deal":
            return f"{self.ui_url}/orders/{entity_id}/edit"
        return f"{self.ui_url}/customers/{entity_id}"

    async def fetch_metadata(self) -> Metadata:
        sites = _keyed((await self._get("/api/v5/reference/sites")).get("sites"))
        statuses = _keyed((await self._get("/api/v5/reference/statuses")).get("statuses"))
        groups = _keyed((await self._get("/api/v5/reference/status-groups")).get("statusGroups"))
        self._kinds = mapping.stage_kinds(groups)
        fields = [
            field
            for raw in await self._pages("/api/v5/custom-fields", "customFields")
            if (field := mapping.to_field(raw)) is not None
        ]
        return Metadata(
            pipelines=mapping.to_pipelines(sites, statuses, groups),
            users=tuple(await self.list_users()),
            custom_fields=tuple(sorted(fields, key=lambda f: (f.entity, f.id))),
        )

    async def check(self) -> list[CheckResult]:
        reached = CheckResult("reachable", True, Text("{url} answers", url=self.base_url))
        try:
            granted = await self._get("/api/credentials")
        except RetriableError as exc:
            if exc.status is None:
                return [CheckResult("reachable", False, exc.message)]
            return [reached, CheckResult("authenticated", False, exc.message)]
        except ConnectorError as exc:
            return [reached, CheckResult("authenticated", False, exc.message)]
        results = [reached, CheckResult("authenticated", True, Text("the API key is accepted"))]
        scopes = {str(s) for s in granted.get("scopes") or []}
        missing = [s for s in SCOPES if s not in scopes]
        sites = [str(s) for s in granted.get("sitesAvailable") or []]
        if missing:
            return [
                *results,
                CheckResult(
                    "rights",
                    False,
                    Text(
                        "the key lacks {scopes}: allow them in {place}",
                        scopes=", ".join(missing),
                        place=errors.KEYS_PAGE,
                    ),
                ),
            ]
        if self.site and sites and self.site not in sites:
            detail = Text(
                "the key cannot reach store {site!r} (it reaches {sites})",
                site=self.site,
                sites=", ".join(sites),
            )
            return [*results, CheckResult("rights", False, detail)]
        if not self.site and len(sites) > 1:
            detail = Text(
                "the key reaches several stores ({sites}): set `site` on the connection, or a"
                " `pipeline` on every deal",
                sites=", ".join(sites),
            )
            return [*results, CheckResult("rights", False, detail)]
        granted_all = Text("the key may read and write what it needs")
        return [*results, CheckResult("rights", True, granted_all)]


def _body(response: Response, what: str) -> dict[str, Any]:
    if not isinstance(response.data, dict):
        raise errors.unexpected_answer(what)
    return response.data


def _id(data: Mapping[str, Any], what: str) -> int:
    try:
        return int(data["id"])
    except (KeyError, TypeError, ValueError):
        raise errors.unexpected_answer(what) from None


def _keyed(value: Any) -> dict[str, dict[str, Any]]:
    """A reference table keyed by code; an empty one may come as ``[]``."""
    if not isinstance(value, dict):
        return {}
    return {
        str(k): {**v, "code": v.get("code", k)} for k, v in value.items() if isinstance(v, dict)
    }
