"""The amoCRM emulator's in-memory account: entities seeded from YAML, search, OAuth, faults.

The HTTP side lives in ``emulator.py``; this module knows nothing about aiohttp so it can be read
as the account model the emulator serves.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import random
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

DEFAULT_SEED = Path(__file__).with_name("emulator_seed.yaml")
# A query that is a phone number as people type it: digits, spaces, + ( ) and dashes.
PHONE_QUERY = re.compile(r"\+?[\d\s()\-]+")
WON, LOST = 142, 143


@dataclasses.dataclass
class Faults:
    """Knobs set at start (``create_app(**faults)``) or at run time (POST /_emulator/faults)."""

    latency: float = 0.0  # seconds added to every answer
    error_rate: float = 0.0  # fraction of calls answering 500
    rate_429: float = 0.0  # fraction of calls answering 429 with ``retry_after``
    timeout_rate: float = 0.0  # fraction of calls that never answer in time (sleep ``hang``)
    drop_rate: float = 0.0  # fraction of calls whose connection is closed without an answer
    auth_failure: bool = False  # every call answers 401
    rate_limit: float = 7.0  # requests per sliding second per account; 0 = off
    retry_after: float = 1.0  # the wait hint of injected 429s, seconds
    hang: float = 60.0  # how long a "timeout" call sleeps
    page_size: int = 250  # largest page served; smaller values force pagination in tests
    status: int = 0  # every API call answers this status with amoCRM's body for it; 0 = off
    # The integration's duplicate control: /leads/complex answers a request whose contact the
    # account already has (same phone or e-mail, with an open deal) with those, merged: true.
    duplicate_control: bool = False

    def update(self, values: Mapping[str, Any]) -> None:
        known = {f.name: f.type for f in dataclasses.fields(self)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown fault knobs: {', '.join(sorted(unknown))}")
        for key, value in values.items():
            current = getattr(self, key)
            setattr(self, key, type(current)(value))


class ValidationFailed(Exception):
    """Becomes amoCRM's 400 ``validation-errors`` answer."""

    def __init__(self, request_id: str, errors: list[dict[str, str]]) -> None:
        super().__init__(request_id)
        self.request_id = request_id
        self.errors = errors


# Custom field types whose values are the field's own options (enums).
CHOICE_TYPES = frozenset({"select", "multiselect", "radiobutton"})


def load_seed(path: Path | None) -> dict[str, Any]:
    data = YAML(typ="safe").load((path or DEFAULT_SEED).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def digits(value: Any) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


class AccountState:
    def __init__(self, seed: Mapping[str, Any], faults: Faults, rng: random.Random) -> None:
        self.seed = copy.deepcopy(dict(seed))
        self.faults = faults
        self.rng = rng
        self.requests: list[dict[str, Any]] = []
        self._window: collections.deque[float] = collections.deque()
        self.reset()

    # ---- seed --------------------------------------------------------------------------------
    def reset(self) -> None:
        seed = copy.deepcopy(self.seed)
        self.account_id = int((seed.get("account") or {}).get("id", 30012345))
        self.users = {int(u["id"]): u for u in seed.get("users") or []}
        tokens = seed.get("tokens") or {}
        self.access_tokens: dict[str, int] = {
            str(t["token"]): int(t["user_id"]) for t in tokens.get("long_lived") or []
        }
        self.oauth: dict[str, Any] = dict(tokens.get("oauth") or {})
        self.oauth_refreshes = 0
        self.fields: dict[str, list[dict[str, Any]]] = {
            entity: list(items) for entity, items in (seed.get("custom_fields") or {}).items()
        }
        self.pipelines = [self._pipeline(p) for p in seed.get("pipelines") or []]
        self.links: set[tuple[int, int]] = set()  # (lead id, contact id)
        self.contacts: dict[int, dict[str, Any]] = {}
        for raw in seed.get("contacts") or []:
            contact = self.seed_contact(raw)
            self.contacts[contact["id"]] = contact
        self.leads: dict[int, dict[str, Any]] = {}
        for raw in seed.get("leads") or []:
            lead = {k: v for k, v in raw.items() if k != "contacts"}
            lead.setdefault("created_at", int(time.time()))
            self.leads[int(raw["id"])] = lead
            self.links |= {(int(raw["id"]), int(c)) for c in raw.get("contacts") or []}
        self.tag_ids: dict[str, int] = {}
        self.companies: dict[int, dict[str, Any]] = {}
        self.company_links: set[tuple[int, int]] = set()  # (lead id, company id)
        self.notes: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.unsorted: list[dict[str, Any]] = []
        self._next = 1 + max([90000000, *self.contacts, *self.leads])
        self.requests.clear()
        self._window.clear()

    def _pipeline(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        statuses = [dict(s, type=int(s.get("type", 0))) for s in raw.get("statuses") or []]
        ids = {int(s["id"]) for s in statuses}
        # Every amoCRM pipeline ends in the two system stages 142 (won) and 143 (lost).
        if WON not in ids:
            statuses.append({"id": WON, "name": "Успешно реализовано", "sort": 10000, "type": 0})
        if LOST not in ids:
            statuses.append(
                {"id": LOST, "name": "Закрыто и не реализовано", "sort": 11000, "type": 0}
            )
        return {**{k: v for k, v in raw.items() if k != "statuses"}, "statuses": statuses}

    def seed_contact(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        item = {k: v for k, v in raw.items() if k not in ("phones", "emails")}
        cfv = list(item.pop("custom_fields_values", None) or [])
        if raw.get("phones"):
            cfv.append({"field_code": "PHONE", "values": [{"value": p} for p in raw["phones"]]})
        if raw.get("emails"):
            cfv.append({"field_code": "EMAIL", "values": [{"value": e} for e in raw["emails"]]})
        item["custom_fields_values"] = self.field_values("contacts", cfv, "0")
        item.setdefault("created_at", int(time.time()))
        return {**item, "id": int(raw["id"])}

    def user_for(self, authorization: str) -> dict[str, Any] | None:
        """The user a ``Bearer`` header's token belongs to, or None for an unknown token."""
        if not authorization.startswith("Bearer "):
            return None
        user_id = self.access_tokens.get(authorization.removeprefix("Bearer ").strip())
        return None if user_id is None else self.users.get(user_id, {})

    def new_id(self) -> int:
        self._next += 1
        return self._next

    # ---- rate limit --------------------------------------------------------------------------
    def admit(self, now: float) -> float | None:
        """None when a request fits the sliding window, else the seconds until it would."""
        limit = self.faults.rate_limit
        if limit <= 0:
            return None
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= int(limit):
            return 1.0 - (now - self._window[0])
        self._window.append(now)
        return None

    # ---- custom fields -----------------------------------------------------------------------
    def field_values(self, entity: str, items: Any, rid: str) -> list[dict[str, Any]]:
        """Write-form ``custom_fields_values`` (by field_id or field_code) in read form."""
        if not isinstance(items, list):
            raise ValidationFailed(rid, [_err("InvalidType", "custom_fields_values", "array")])
        out: list[dict[str, Any]] = []
        for n, item in enumerate(items):
            known = self.fields.get(entity, [])
            spec = next(
                (
                    f
                    for f in known
                    if (item.get("field_id") is not None and f["id"] == item.get("field_id"))
                    or (item.get("field_code") and f.get("code") == item.get("field_code"))
                ),
                None,
            )
            if spec is None:
                path = f"custom_fields_values.{n}.field_id"
                raise ValidationFailed(rid, [_err("NotSupportedChoice", path, "unknown field")])
            values = []
            for m, value in enumerate(item.get("values") or []):
                entry = {"value": value.get("value")}
                if spec.get("type") == "multitext":
                    entry["enum_code"] = value.get("enum_code") or "WORK"
                enums = spec.get("enums") or []
                for enum in enums:
                    if value.get("enum_id") == enum["id"] or value.get("value") == enum["value"]:
                        entry = {"value": enum["value"], "enum_id": enum["id"]}
                if spec.get("type") in CHOICE_TYPES and "enum_id" not in entry:
                    # A list field takes only its own options (by enum_id or their exact text).
                    path = f"custom_fields_values.{n}.values.{m}.enum_id"
                    detail = "The value you selected is not a valid choice."
                    raise ValidationFailed(rid, [_err("NotSupportedChoice", path, detail)])
                values.append(entry)
            out.append(
                {
                    "field_id": spec["id"],
                    "field_name": spec["name"],
                    "field_code": spec.get("code"),
                    "field_type": spec.get("type", "text"),
                    "values": values,
                }
            )
        return out

    def tags(self, items: Any, rid: str) -> list[dict[str, Any]]:
        """Tags of a write (by name or id), as the lead reads them back; new names are added."""
        if not isinstance(items, list):
            raise ValidationFailed(rid, [_err("InvalidType", "_embedded.tags", "array")])
        out = []
        for n, item in enumerate(items):
            name = str(item.get("name") or "").strip() if isinstance(item, dict) else ""
            if not name:
                raise ValidationFailed(rid, [_err("FieldMissing", f"_embedded.tags.{n}.name", "")])
            if name not in self.tag_ids:
                self.tag_ids[name] = self.new_id()
            out.append({"id": self.tag_ids[name], "name": name, "color": None})
        return out

    # ---- search ------------------------------------------------------------------------------
    def search_contacts(self, query: str) -> list[dict[str, Any]]:
        """Contacts matching ``query``, by id.

        amoCRM documents ``query`` as a search over the filled fields and does not say how it
        matches; integrators report it compares the stored text, so ``79161234567`` misses
        ``8 (916) 123-45-67``. The emulator is that strict: ``query`` matches a contact when it
        is a case-insensitive substring of the name or of any field value. For phone fields the
        formatting is ignored (a number query matches the digits the stored number is written
        with), which is what lets the national number ``9161234567`` find every spelling.
        """
        wanted = query.strip().casefold()
        number = PHONE_QUERY.fullmatch(wanted) is not None
        wanted_digits = digits(wanted)
        found = []
        for contact in self.contacts.values():
            texts = [contact.get("name") or "", contact.get("first_name") or ""]
            texts.append(contact.get("last_name") or "")
            phones = []
            for item in contact.get("custom_fields_values") or []:
                for value in item.get("values") or []:
                    texts.append(str(value.get("value") or ""))
                    if item.get("field_code") == "PHONE":
                        phones.append(digits(value.get("value")))
            hit = bool(wanted) and any(wanted in text.casefold() for text in texts)
            if not hit and number and len(wanted_digits) >= 5:
                hit = any(wanted_digits in stored for stored in phones)
            if hit:
                found.append(contact)
        return sorted(found, key=lambda c: int(c["id"]))

    def leads_of(self, contact_id: int) -> list[int]:
        return sorted(lead for lead, contact in self.links if contact == contact_id)

    def duplicate_of(self, contact: Mapping[str, Any]) -> tuple[int, int] | None:
        """(open lead, contact) of a known contact sharing a phone or e-mail with ``contact``
        (write form), for duplicate control; None when there is none."""
        from jivocrm.core.phones import normalize_email, normalize_phone

        def keys(entity: Mapping[str, Any]) -> set[str]:
            found = set()
            for item in entity.get("custom_fields_values") or []:
                norm = {"PHONE": normalize_phone, "EMAIL": normalize_email}.get(
                    str(item.get("field_code"))
                )
                if norm is None:
                    continue
                for value in item.get("values") or []:
                    if key := norm(str(value.get("value") or "")):
                        found.add(key)
            return found

        wanted = keys(contact)
        for known in sorted(self.contacts.values(), key=lambda c: int(c["id"])):
            if known.get("is_unsorted") or not wanted & keys(known):
                continue
            open_leads = [
                lid
                for lid in self.leads_of(int(known["id"]))
                if self.leads[lid].get("status_id") not in (WON, LOST)
            ]
            if open_leads:
                return open_leads[-1], int(known["id"])
        return None

    # ---- OAuth -------------------------------------------------------------------------------
    def token_grant(self, body: Mapping[str, Any]) -> dict[str, Any] | str:
        """A new token pair, or the ``hint`` of the 400 that refuses the grant."""
        oauth = self.oauth
        if not oauth or body.get("client_id") != oauth.get("client_id"):
            return "Client authentication failed"
        if body.get("client_secret") != oauth.get("client_secret"):
            return "Client authentication failed"
        grant = body.get("grant_type")
        if grant == "authorization_code":
            if not body.get("code") or body.get("code") != oauth.get("authorization_code"):
                return "Authorization code has been revoked"
            oauth["authorization_code"] = None  # single use
        elif grant == "refresh_token":
            if not body.get("refresh_token") or body["refresh_token"] != oauth.get("refresh_token"):
                # Refresh tokens are single-use: a reused (already exchanged) one is revoked.
                return "Token has been revoked"
            self.oauth_refreshes += 1
        else:
            return "The authorization grant type is not supported by the authorization server."
        access = "emu-access-" + secrets.token_hex(12)
        oauth["refresh_token"] = "emu-refresh-" + secrets.token_hex(12)
        self.access_tokens[access] = int(oauth.get("user_id") or min(self.users))
        return {
            "token_type": "Bearer",
            "expires_in": 86400,
            "server_time": int(time.time()),
            "access_token": access,
            "refresh_token": oauth["refresh_token"],
        }

    def expire_access_tokens(self) -> None:
        """Every OAuth access token dies (as after 24 hours); long-lived tokens stay valid."""
        long_lived = {
            str(t["token"]) for t in (self.seed.get("tokens") or {}).get("long_lived") or []
        }
        self.access_tokens = {t: u for t, u in self.access_tokens.items() if t in long_lived}

    # ---- inspection --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "users": list(self.users.values()),
            "contacts": [{**c, "leads": self.leads_of(c["id"])} for c in self.contacts.values()],
            "companies": list(self.companies.values()),
            "leads": [
                {
                    **lead,
                    "contacts": sorted(c for lid, c in self.links if lid == lead["id"]),
                    "companies": sorted(c for lid, c in self.company_links if lid == lead["id"]),
                }
                for lead in self.leads.values()
            ],
            "pipelines": self.pipelines,
            "custom_fields": self.fields,
            "notes": self.notes,
            "tasks": self.tasks,
            "unsorted": self.unsorted,
            "oauth": {"refreshes": self.oauth_refreshes},
            "faults": dataclasses.asdict(self.faults),
            "requests": self.requests,
        }


def _err(code: str, path: str, detail: str) -> dict[str, str]:
    return {"code": code, "path": path, "detail": detail}
