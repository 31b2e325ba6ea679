"""The RetailCRM emulator's in-memory account: keys, stores, reference data, customers, orders,
notes, tasks, and the searches the API documents.

The HTTP side lives in ``emulator.py``; this module knows nothing about aiohttp.

Searches are as strict as the documented ones, so the emulator cannot hide a miss: the customer
``name`` filter finds a phone only where the digits asked for appear, in that order, among the
digits of a stored number as it was written (``8 (916) 123-45-67`` is found by ``9161234567``,
not by ``79161234567``); the ``email`` filter compares whole addresses, ignoring case.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

DEFAULT_SEED = Path(__file__).with_name("emulator_seed.yaml")
# The status groups whose orders are finished: won and lost, in the connector's words.
CLOSED_GROUPS = {"complete": "won", "cancel": "lost"}


@dataclasses.dataclass
class Faults:
    """Knobs set at start (``create_app(**faults)``) or at run time (POST /_emulator/faults)."""

    latency: float = 0.0  # seconds added to every answer
    error_rate: float = 0.0  # fraction of calls answering 500
    rate_503: float = 0.0  # fraction of calls answering 503 "Rate limit exceeded"
    status: int = 0  # every API call answers this status with RetailCRM's body for it; 0 = off
    html: bool = False  # answer every call with an HTML page (an account that does not exist)
    rate_limit: float = -1.0  # requests per sliding second per key; -1 = the seed's, 0 = off
    page_size: int = 0  # largest page served; 0 = the seed's

    def update(self, values: Mapping[str, Any]) -> None:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown fault knobs: {', '.join(sorted(unknown))}")
        for key, value in values.items():
            setattr(self, key, type(getattr(self, key))(value))


class Invalid(Exception):
    """RetailCRM's 400: ``errorMsg`` and, for entity errors, ``errors`` by field."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


class NotFound(Exception):
    """RetailCRM's 404 ``Not found``."""


def load_seed(path: Path | None) -> dict[str, Any]:
    yaml = YAML(typ="safe")
    seed: dict[str, Any] = yaml.load(DEFAULT_SEED.read_text("utf-8"))
    if path is not None:
        seed.update(yaml.load(Path(path).read_text("utf-8")) or {})
    return seed


def digits(text: Any) -> str:
    return "".join(ch for ch in str(text or "") if ch.isdigit())


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class AccountState:
    def __init__(self, seed: dict[str, Any], faults: Faults, rng: random.Random) -> None:
        self.seed = copy.deepcopy(seed)
        self.faults = faults
        self.rng = rng
        self.requests: list[dict[str, Any]] = []
        self._sent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.reset()

    def reset(self) -> None:
        seed = copy.deepcopy(self.seed)
        self.account: str = seed["account"]
        self.keys: dict[str, dict[str, Any]] = seed["api_keys"]
        self.sites: dict[str, dict[str, Any]] = seed["sites"]
        self.status_groups: dict[str, dict[str, Any]] = seed["status_groups"]
        self.statuses: dict[str, dict[str, Any]] = seed["statuses"]
        self.order_methods: dict[str, dict[str, Any]] = seed["order_methods"]
        self.users: list[dict[str, Any]] = seed["users"]
        self.custom_fields: list[dict[str, Any]] = seed["custom_fields"]
        self.customers: list[dict[str, Any]] = seed["customers"]
        self.orders: list[dict[str, Any]] = seed["orders"]
        self.notes: list[dict[str, Any]] = seed["notes"]
        self.tasks: list[dict[str, Any]] = seed["tasks"]
        self.requests.clear()
        self._sent.clear()
        ids = [
            x["id"] for rows in (self.customers, self.orders, self.notes, self.tasks) for x in rows
        ]
        self._next_id: int = max([1000, *(int(i) for i in ids)]) + 1

    # ---- limits --------------------------------------------------------------------------------
    @property
    def rate_limit(self) -> float:
        return (
            float(self.seed["rate_limit"]) if self.faults.rate_limit < 0 else self.faults.rate_limit
        )

    @property
    def page_size(self) -> int:
        return self.faults.page_size or int(self.seed["page_size"])

    def admit(self, key: str, now: float) -> bool:
        """Whether a request of ``key`` at ``now`` fits the sliding one-second window."""
        limit = self.rate_limit
        if limit <= 0:
            return True
        sent = self._sent[key]
        while sent and now - sent[0] >= 1.0:
            sent.popleft()
        if len(sent) >= limit:
            return False
        sent.append(now)
        return True

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ---- reference -----------------------------------------------------------------------------
    def group_of(self, status: str) -> str | None:
        return next((g for g, v in self.status_groups.items() if status in v["statuses"]), None)

    def statuses_for(self, codes: list[str]) -> set[str]:
        """Status codes, with status-group codes expanded to their statuses."""
        out: set[str] = set()
        for code in codes:
            group = self.status_groups.get(code)
            out |= set(group["statuses"]) if group else {code}
        return out

    def site_for(self, key: str, given: str | None) -> str:
        """The store a write goes to: ``site`` when given, else the key's only store."""
        sites = self.keys[key]["sites"]
        if given:
            if given not in self.sites:
                raise Invalid(f"Site with code '{given}' not found")
            if given not in sites:
                raise Invalid("Access denied to the site")
            return given
        if len(sites) > 1:
            raise Invalid("Parameter 'site' is missing")
        return str(sites[0])

    # ---- customers -----------------------------------------------------------------------------
    def find_customer(self, customer_id: Any) -> dict[str, Any]:
        for customer in self.customers:
            if str(customer["id"]) == str(customer_id):
                return customer
        raise NotFound

    def search_customers(self, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = list(self.customers)
        name = str(filters.get("name") or "").strip()
        if name:
            found = [c for c in found if _name_or_phone(c, name)]
        email = str(filters.get("email") or "").strip().casefold()
        if email:
            found = [c for c in found if str(c.get("email") or "").casefold() == email]
        ids = filters.get("ids")
        if isinstance(ids, list):
            found = [c for c in found if str(c["id"]) in {str(i) for i in ids}]
        sites = filters.get("sites")
        if isinstance(sites, list):
            found = [c for c in found if c.get("site") in sites]
        return sorted(found, key=lambda c: int(c["id"]))

    def create_customer(self, data: Mapping[str, Any], site: str) -> dict[str, Any]:
        self._check_customer(data)
        customer = {
            **_customer_fields(data),
            "id": self.new_id(),
            "site": site,
            "createdAt": _now(),
        }
        self.customers.append(customer)
        return customer

    def edit_customer(self, customer_id: Any, data: Mapping[str, Any]) -> dict[str, Any]:
        customer = self.find_customer(customer_id)
        self._check_customer(data)
        # An edit writes the fields it is given; `phones` given is the whole new list.
        customer.update(_customer_fields(data))
        return customer

    def _check_customer(self, data: Mapping[str, Any]) -> None:
        errors: dict[str, str] = {}
        for n, phone in enumerate(data.get("phones") or []):
            if not isinstance(phone, Mapping) or not digits(phone.get("number")):
                errors[f"phones[{n}][number]"] = "This value is not a valid phone number."
        email = data.get("email")
        if email and "@" not in str(email):
            errors["email"] = "This value is not a valid email address."
        manager = data.get("managerId")
        if manager is not None and not self.user(manager):
            errors["managerId"] = "Manager not found."
        if errors:
            raise Invalid("Errors in the entity format", errors)

    def user(self, user_id: Any) -> dict[str, Any] | None:
        return next((u for u in self.users if str(u["id"]) == str(user_id)), None)

    # ---- orders --------------------------------------------------------------------------------
    def find_order(self, order_id: Any) -> dict[str, Any]:
        for order in self.orders:
            if str(order["id"]) == str(order_id):
                return order
        raise NotFound

    def search_orders(self, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = list(self.orders)
        if filters.get("customerId"):
            found = [o for o in found if str(o.get("customer")) == str(filters["customerId"])]
        wanted = filters.get("extendedStatus")
        if wanted:
            codes = self.statuses_for(wanted if isinstance(wanted, list) else [wanted])
            found = [o for o in found if o.get("status") in codes]
        sites = filters.get("sites")
        if isinstance(sites, list):
            found = [o for o in found if o.get("site") in sites]
        return sorted(found, key=lambda o: int(o["id"]))

    def create_order(self, data: Mapping[str, Any], site: str) -> dict[str, Any]:
        order = self._order_fields(data)
        order.setdefault("status", "new")
        if "customer" not in order:
            # An order without a customer gets a new one made from its own contact fields.
            phones = [{"number": order["phone"]}] if order.get("phone") else []
            made = self.create_customer(
                {
                    "firstName": order.get("firstName") or "",
                    "lastName": order.get("lastName") or "",
                    "email": order.get("email"),
                    "phones": phones,
                },
                site,
            )
            order["customer"] = made["id"]
        made = {**order, "id": self.new_id(), "site": site, "createdAt": _now()}
        made["number"] = f"{made['id']}A"
        self.orders.append(made)
        return made

    def edit_order(self, order_id: Any, data: Mapping[str, Any]) -> dict[str, Any]:
        order = self.find_order(order_id)
        order.update(self._order_fields(data))
        return order

    def _order_fields(self, data: Mapping[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        customer = data.get("customer")
        if customer is not None:
            cid = customer.get("id") if isinstance(customer, Mapping) else None
            if cid is None or not any(str(c["id"]) == str(cid) for c in self.customers):
                errors["customer"] = "Customer not found."
            else:
                out["customer"] = int(cid)
        status = data.get("status")
        if status is not None:
            if status not in self.statuses:
                errors["status"] = f"Status '{status}' not found."
            out["status"] = status
        method = data.get("orderMethod")
        if method is not None:
            if method not in self.order_methods:
                errors["orderMethod"] = f"Order method '{method}' not found."
            out["orderMethod"] = method
        manager = data.get("managerId")
        if manager is not None:
            if not self.user(manager):
                errors["managerId"] = "Manager not found."
            out["managerId"] = int(manager)
        for key in (
            "managerComment",
            "customerComment",
            "firstName",
            "lastName",
            "phone",
            "email",
            "source",
            "customFields",
            "items",
            "externalId",
        ):
            if key in data:
                out[key] = copy.deepcopy(data[key])
        fields = out.get("customFields") or {}
        known = {f["code"] for f in self.custom_fields if f["entity"] == "order"}
        for code in fields:
            if code not in known:
                errors[f"customFields[{code}]"] = "Custom field not found."
        if errors:
            raise Invalid("Errors in the entity format", errors)
        return out

    # ---- notes, tasks --------------------------------------------------------------------------
    def create_note(self, data: Mapping[str, Any]) -> dict[str, Any]:
        customer = data.get("customer")
        cid = customer.get("id") if isinstance(customer, Mapping) else None
        errors = {}
        if not str(data.get("text") or "").strip():
            errors["text"] = "This value should not be blank."
        if cid is None or not any(str(c["id"]) == str(cid) for c in self.customers):
            errors["customer"] = "Customer not found."
        if errors:
            raise Invalid("Errors in the entity format", errors)
        note = {
            "id": self.new_id(),
            "text": str(data["text"]),
            "managerId": data.get("managerId"),
            "customer": {"id": int(str(cid))},
            "createdAt": _now(),
        }
        self.notes.append(note)
        return note

    def create_task(self, data: Mapping[str, Any]) -> dict[str, Any]:
        errors = {}
        if not str(data.get("text") or "").strip():
            errors["text"] = "This value should not be blank."
        if not self.user(data.get("performerId")):
            errors["performerId"] = "Performer not found."
        when = data.get("datetime")
        if when is not None:
            try:
                dt.datetime.strptime(str(when), "%Y-%m-%d %H:%M")
            except ValueError:
                errors["datetime"] = "This value is not a valid datetime (Y-m-d H:i)."
        if errors:
            raise Invalid("Errors in the entity format", errors)
        task = {
            "id": self.new_id(),
            "text": str(data["text"]),
            "commentary": data.get("commentary"),
            "datetime": when,
            "performer": int(str(data["performerId"])),
            "customer": data.get("customer"),
            "order": data.get("order"),
            "complete": False,
            "createdAt": _now(),
        }
        self.tasks.append(task)
        return task

    def snapshot(self) -> dict[str, Any]:
        return {
            "customers": copy.deepcopy(self.customers),
            "orders": copy.deepcopy(self.orders),
            "notes": copy.deepcopy(self.notes),
            "tasks": copy.deepcopy(self.tasks),
            "users": copy.deepcopy(self.users),
            "requests": copy.deepcopy(self.requests),
            "faults": dataclasses.asdict(self.faults),
        }


def _name_or_phone(customer: Mapping[str, Any], text: str) -> bool:
    wanted = digits(text)
    if wanted and len(wanted) == len(text.replace("+", "").replace(" ", "")):
        return any(wanted in digits(p.get("number")) for p in customer.get("phones") or [])
    full = " ".join(
        str(customer.get(k) or "") for k in ("lastName", "firstName", "patronymic")
    ).casefold()
    return text.casefold() in full


def _customer_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "firstName",
        "lastName",
        "patronymic",
        "email",
        "phones",
        "managerId",
        "source",
        "customFields",
        "externalId",
    )
    return {k: copy.deepcopy(data[k]) for k in keys if k in data}
