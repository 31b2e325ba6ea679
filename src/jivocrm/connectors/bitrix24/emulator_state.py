"""The Bitrix24 emulator's portal: seeded in-memory state and the credentials that reach it.

The REST methods over this state live in ``emulator_methods``; HTTP, faults and the leaky bucket in
``emulator``. Ids are ints inside and strings on the wire, as Bitrix24 answers them.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

DEFAULT_SEED = "emulator_seed.yaml"
MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM")


class ApiError(Exception):
    """An error answer: HTTP status, Bitrix24 ``error`` code and ``error_description``."""

    def __init__(self, status: int, code: str, description: str = "") -> None:
        super().__init__(f"{status} {code} {description}")
        self.status = status
        self.code = code
        self.description = description


# An extension written after the number: "доб. 12", "ext 12", "x12", "#12".
_EXTENSION = re.compile(r"\s*(?:доб\.?|ext\.?|x|#)\s*\d+\s*$", re.IGNORECASE)


def communication(kind: str, value: str) -> str:
    """A phone or e-mail as Bitrix24 compares it: the text as stored, an extension dropped (the
    documented duplicate search ignores only that, so 8 (916)… and +7 916… differ); e-mail
    addresses without regard to case."""
    text = value.strip()
    return text.casefold() if kind == "EMAIL" else _EXTENSION.sub("", text)


def invalid(description: str) -> ApiError:
    """Method-level validation: HTTP 400 with an empty ``error``, as Bitrix24 answers it."""
    return ApiError(400, "", description)


# The documented statuses and descriptions of errors, for fault injection (`fail_with`).
KNOWN_ERRORS: dict[str, tuple[int, str]] = {
    "NO_AUTH_FOUND": (401, "Wrong authorization data"),
    "expired_token": (401, "The access token provided has expired."),
    "invalid_token": (401, "Token expired or invalid"),
    "ERROR_OAUTH": (401, "Application not installed"),
    "method_confirm_waiting": (401, "Method is waiting for confirmation"),
    "insufficient_scope": (
        403,
        "The request requires higher privileges than provided by the webhook token",
    ),
    "ACCESS_DENIED": (403, "REST API is available only on commercial plans"),
    "INVALID_CREDENTIALS": (403, "Invalid request credentials"),
    "user_access_error": (403, "The user does not have access to the application"),
    "ERROR_METHOD_NOT_FOUND": (404, "Method not found!"),
    "INVALID_REQUEST": (400, "Https required"),
    "ERROR_BATCH_LENGTH_EXCEEDED": (400, "Max batch length exceeded"),
    "ERROR_BATCH_METHOD_NOT_ALLOWED": (405, "Method is not allowed for batch usage"),
    "OPERATION_TIME_LIMIT": (429, "Method is blocked due to operation time limit"),
    "QUERY_LIMIT_EXCEEDED": (503, "Too many requests"),
    "OVERLOAD_LIMIT": (503, "REST API is blocked due to overload"),
    "INTERNAL_SERVER_ERROR": (500, "Internal server error"),
    "PORTAL_DELETED": (500, "Portal was deleted"),
}


@dataclass
class Caller:
    """Who is calling: the webhook's or the token's user and the scopes granted."""

    user_id: int
    scopes: frozenset[str]
    via: str  # "webhook" or "oauth"


@dataclass
class Faults:
    """Misbehaviour on demand; fractions are per request."""

    latency: float = 0.0  # seconds added to every answer
    error_rate: float = 0.0  # answer 500 INTERNAL_SERVER_ERROR
    rate_503: float = 0.0  # answer 503 QUERY_LIMIT_EXCEEDED
    rate_429: float = 0.0  # answer 429 OPERATION_TIME_LIMIT
    timeout_rate: float = 0.0  # never answer (until the client gives up)
    drop_rate: float = 0.0  # close the connection without an answer
    auth_failure: str | None = None  # answer every REST call with this auth error
    fail_with: str | None = None  # answer every REST call with this KNOWN_ERRORS code

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault {key!r}")
            if key == "auth_failure" and value is True:
                value = "NO_AUTH_FOUND"
            if key in ("auth_failure", "fail_with"):
                if value and value not in KNOWN_ERRORS:
                    raise ValueError(f"unknown error code {value!r}")
                setattr(self, key, value or None)
            else:
                setattr(self, key, float(value))


def load_seed(path: Path | None) -> dict[str, Any]:
    """The default portal, with the top-level keys of ``path`` (a YAML file) replacing its own."""
    text = resources.files(__package__).joinpath(DEFAULT_SEED).read_text("utf-8")
    seed: dict[str, Any] = dict(YAML(typ="safe").load(text))
    if path is not None:
        loaded = YAML(typ="safe").load(Path(path).read_text("utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the seed must be a mapping")
        seed.update(loaded)
    return seed


@dataclass
class PortalState:
    seed: dict[str, Any]
    portal: str = ""
    page_size: int = 50
    users: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # kind ("contact", "deal", "lead") → id → record
    entities: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # access token → grant
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    last_id: int = 1000
    last_multifield_id: int = 0
    # False: crm.item.list refuses a filter on contactIds (INVALID_ARG_VALUE), as a portal whose
    # item API did not offer it would (set with the fault knob of the same name).
    item_contact_filter: bool = True

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        seed = copy.deepcopy(self.seed)
        self.portal = str(seed.get("portal", "emulator.bitrix24.ru"))
        self.page_size = int(seed.get("page_size", 50))
        self.users = [
            {"ACTIVE": True, "ADMIN": False, **u, "ID": int(u["ID"])} for u in seed["users"]
        ]
        self.categories = list(seed["categories"])
        self.fields = {kind: dict(seed.get("fields", {}).get(kind) or {}) for kind in _KINDS}
        self.entities = {kind: {} for kind in _KINDS}
        self.comments, self.tasks, self.requests = {}, {}, []
        self.last_id, self.last_multifield_id = 1000, 0
        for kind in _KINDS:
            for record in seed.get(f"{kind}s") or []:
                self.store(kind, dict(record))
        self.webhooks = [
            {"blocked": False, **hook, "user_id": int(hook["user_id"]), "code": str(hook["code"])}
            for hook in seed.get("webhooks") or []
        ]
        oauth = seed.get("oauth") or {}
        self.apps = {str(app["client_id"]): {"installed": True, **app} for app in oauth["apps"]}
        self.tokens, self.refresh_tokens = {}, {}
        for grant in oauth.get("tokens") or []:
            self.grant(
                str(grant["client_id"]),
                int(grant.get("user_id", 1)),
                access=str(grant["access_token"]),
                refresh=str(grant["refresh_token"]),
                expires_in=float(grant.get("expires_in", 3600)),
            )

    def new_id(self) -> int:
        self.last_id += 1
        return self.last_id

    def store(self, kind: str, record: dict[str, Any]) -> int:
        """Put a seeded or created record in place, giving ids to it and its multifield items."""
        entity_id = int(record.get("ID") or self.new_id())
        self.last_id = max(self.last_id, entity_id)
        record["ID"] = entity_id
        for name in MULTIFIELDS:
            record[name] = [self.multifield_item(name, item) for item in record.get(name) or []]
        self.entities[kind][entity_id] = record
        return entity_id

    def multifield_item(self, name: str, item: dict[str, Any]) -> dict[str, Any]:
        self.last_multifield_id += 1
        return {
            "ID": str(self.last_multifield_id),
            "VALUE_TYPE": str(item.get("VALUE_TYPE") or "WORK"),
            "VALUE": str(item.get("VALUE", "")),
            "TYPE_ID": name,
        }

    # ---- credentials -------------------------------------------------------------------------
    def grant(
        self, client_id: str, user_id: int, *, access: str, refresh: str, expires_in: float
    ) -> None:
        grant = {"client_id": client_id, "user_id": user_id, "refresh_token": refresh}
        self.tokens[access] = {**grant, "expires_at": time.time() + expires_in}
        self.refresh_tokens[refresh] = grant

    def webhook_caller(self, user_id: str, code: str) -> Caller:
        for hook in self.webhooks:
            if hook["code"] == code and str(hook["user_id"]) == user_id:
                if hook["blocked"]:
                    raise ApiError(403, "INVALID_CREDENTIALS", "Invalid request credentials")
                return Caller(hook["user_id"], frozenset(hook.get("scopes") or ()), "webhook")
        raise ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")

    def token_caller(self, access_token: str) -> Caller:
        grant = self.tokens.get(access_token)
        if grant is None:
            raise ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")
        app = self.apps.get(grant["client_id"])
        if app is None or not app["installed"]:
            raise ApiError(401, "ERROR_OAUTH", "Application not installed")
        if time.time() >= grant["expires_at"]:
            raise ApiError(401, "expired_token", "The access token provided has expired.")
        return Caller(int(grant["user_id"]), frozenset(app.get("scopes") or ()), "oauth")

    def expire_tokens(self) -> None:
        for grant in self.tokens.values():
            grant["expires_at"] = 0.0

    # ---- reading -----------------------------------------------------------------------------
    def stages(self, category_id: int) -> list[dict[str, Any]]:
        for category in self.categories:
            if int(category["id"]) == category_id:
                return list(category.get("stages") or [])
        raise invalid(f"Category {category_id} not found")

    def stage_semantics(self, stage_id: str) -> str:
        """``P`` (in progress), ``S`` (won) or ``F`` (lost), as STAGE_SEMANTIC_ID reads."""
        for category in self.categories:
            for stage in category.get("stages") or []:
                if stage["STATUS_ID"] == stage_id:
                    letters = {"success": "S", "failure": "F", "apology": "F"}
                    return letters.get(stage.get("SEMANTICS", ""), "P")
        return "P"

    def snapshot(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "categories": self.categories,
            "fields": self.fields,
            "contacts": list(self.entities["contact"].values()),
            "deals": list(self.entities["deal"].values()),
            "leads": list(self.entities["lead"].values()),
            "comments": list(self.comments.values()),
            "tasks": list(self.tasks.values()),
            "webhooks": [{**h, "code": "***"} for h in self.webhooks],
            "requests": self.requests,
        }


_KINDS = ("contact", "deal", "lead")
