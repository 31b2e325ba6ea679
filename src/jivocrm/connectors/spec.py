"""What a CRM brings to jivocrm: the whole plug-in, in one ``ConnectorSpec`` per CRM folder.

Everything CRM-specific lives in ``connectors/<crm>/`` and reaches the rest of jivocrm through
its spec: the connection schema and its checks, the connector, what it can do (``capabilities``,
which steps read), the emulator and the kit tests use on it, the rate-limit parameters the
shared PostgreSQL limiter takes, and what ``jivocrm init`` writes for it. Adding a CRM is its
folder and one line in ``jivocrm.connectors.CONNECTORS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jivocrm.core.i18n import Text
from jivocrm.core.retry import RetryPolicy

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from jivocrm.connectors.base import Connector
    from jivocrm.connectors.kit import CrmKit
    from jivocrm.connectors.ratelimit import RateLimiter

# What a CRM can do, as steps and the contract suite ask for it.
CONTACTS = "contacts"
DEALS = "deals"
TASKS = "tasks"
NOTES = "notes"
USERS = "users"
LEADS = "lead"  # leads apart from deals
UNSORTED = "unsorted"  # requests waiting to be accepted (an inbox of leads)
DEAL_TAGS = "deal_tags"
NOTE_LISTING = "note_listing"  # recent_notes works: a resumed note step finds its note
DEAL_WITH_CONTACT = "deal_with_contact_in_one_call"
# A run's writes in one request, later ones naming what earlier ones made (a batch with result
# references): a new contact, its deal and the note on the deal cost one call.
CHAINED_WRITES = "writes_chained_in_one_call"
BASIC = frozenset({CONTACTS, DEALS, TASKS, NOTES, USERS})

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# A problem with a connection entry: the path inside the entry and what to do.
ConfigProblem = tuple[tuple[str | int, ...], str]


@dataclass
class ConnectionContext:
    """What a connector needs besides its config, provided by its owner."""

    name: str
    session: aiohttp.ClientSession
    # The limiter for this connection (shared across instances when the store is PostgreSQL).
    limiter: RateLimiter | None = None
    # Where OAuth token pairs are persisted: a directory for the 0600 token file (until a store
    # provides ``token_store``).
    state_dir: Path = Path(".jivocrm")
    token_store: Any = None
    # Base URL of a running emulator when the connection says ``emulate: true``.
    emulator_url: str | None = None


@dataclass(frozen=True)
class EmulatorConnection:
    """A connection entry that talks to ``jivocrm emulate`` of a CRM, and the variables its
    ``${VAR}`` references take there (the credentials of the emulator's default account)."""

    entry: Mapping[str, Any]
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scaffold:
    """What ``jivocrm init`` writes for the CRM, from ``scaffold/`` in its folder: the connection
    entry (``connection.yaml.tmpl``) and the default bundles with their tests (``bundles/``)."""

    connection: str  # the connection's name in a new project
    # Each ${VAR} of the connection entry and where its value is found (for .env.example).
    variables: tuple[tuple[str, str], ...]
    no_contacts: str  # what a chat without contacts becomes, in the project's README
    package: str  # the CRM's package: its scaffold/ is read from there
    # Where the CRM's customers mostly are: the clock managers read transcripts by.
    timezone: str = "UTC"


def no_problems(config: Mapping[str, Any]) -> list[ConfigProblem]:
    return []


def https_problem(url: str, form: str, crm: str) -> str | None:
    """What is wrong with a CRM address; https only, except loopback hosts (emulators, tests)."""
    text = url.strip()
    if "://" not in text:
        return Text("add https://, the correct form is {form}", form=form)
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme not in ("http", "https"):
        return Text("the address must have the form {form}", form=form)
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return Text(
            "https required: {crm} answers only over https; the correct form is {form}",
            crm=crm,
            form=form,
        )
    return None


def emulator_entry(config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a connection entry that still mean something when the emulator answers."""
    kept = {k: v for k, v in config.items() if k in ("type", "seed", "timeout")}
    return {**kept, "emulate": True}


def leaky_bucket(rate: float, burst: int) -> tuple[float, int]:
    """The shared limiter for a CRM that meters a leaky bucket: one slot per ``1 / rate``, the
    burst one below the CRM's, because the CRM measures arrival times."""
    return 1.0 / rate, max(1, burst - 1)


# A CRM that counts requests in a sliding second where they arrive, shared by several daemons:
# each process is late on its own schedule (a busy event loop wakes one daemon 60 ms late while
# another sends on time), so slots are spaced for a window of 1.2 s (measured with three daemons
# on two loaded cores: slots 1.05 s apart arrived 8 in one second).
SHARED_WINDOW = 1.2


def per_second_shared(rate: float, burst: int) -> tuple[float, int]:
    """The shared limiter for a CRM that allows ``rate`` requests in any second, no burst."""
    return SHARED_WINDOW / max(1, math.floor(rate)), 1


def method_and_path(method: str, url: str) -> str:
    """A CRM call as bundle tests write it: ``GET /api/v4/contacts``."""
    return f"{method} {urlsplit(url).path}"


@dataclass(frozen=True)
class ConnectorSpec:
    type: str
    title: str
    description: str
    # JSON Schema (2020-12) of one entry under ``connections:`` (without ``type``); secret values
    # carry ``"x-secret": true`` so validate can demand ``${ENV}`` references for them.
    schema: Mapping[str, Any]
    example: Mapping[str, Any]
    build: Callable[[Mapping[str, Any], ConnectionContext], Connector]
    # aiohttp app factory of the emulator: (seed YAML path or None) → app
    emulator: Callable[[Path | None], web.Application]
    scaffold: Scaffold
    # The test kit, loaded on first use.
    kit: Callable[[], CrmKit]
    # The entry that points a project at ``jivocrm emulate`` listening at a URL.
    emulator_connection: Callable[[str], EmulatorConnection]
    capabilities: frozenset[str] = BASIC
    # Default rate limit of one account: (requests per second, burst)
    default_rate: tuple[float, int] = (7.0, 1)
    # What validate says about literal values of an entry that its schema cannot (forms of URLs)
    check_config: Callable[[Mapping[str, Any]], list[ConfigProblem]] = no_problems
    # A connection entry with ``emulate: true``, as it talks to the in-process emulator: its
    # ``${ENV}`` references need no values (CI has none).
    emulator_config: Callable[[Mapping[str, Any]], dict[str, Any]] = emulator_entry
    # (rate, burst) of the connection → (interval, burst) of the limiter PostgreSQL shares.
    shared_limit: Callable[[float, int], tuple[float, int]] = leaky_bucket
    # (HTTP method, URL) → the call as bundle tests name it.
    call_name: Callable[[str, str], str] = method_and_path
    docs: Mapping[str, str] = field(default_factory=dict)


# ---- what every connection entry has, whatever the CRM -----------------------------------------

SECRET: dict[str, Any] = {"type": "string", "minLength": 1, "x-secret": True}


def common_properties(crm: str, rate: float, burst: int, rate_text: str) -> dict[str, Any]:
    """Schema of the keys every connection entry has: limits, timeout, retries, the emulator."""
    return {
        "rate_limit": {
            "type": "object",
            "additionalProperties": False,
            "description": rate_text,
            "properties": {
                "rate": {"type": "number", "exclusiveMinimum": 0, "default": rate},
                "burst": {"type": "integer", "minimum": 1, "default": burst},
            },
        },
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 10,
            "description": "Seconds to wait for one answer.",
        },
        "retries": {
            "type": "object",
            "additionalProperties": False,
            "description": "Quick retries inside one call; the daemon's schedule takes over after.",
            "properties": {
                "attempts": {"type": "integer", "minimum": 1, "default": 3},
                "initial": {"type": "number", "minimum": 0, "default": 0.5},
                "max_delay": {"type": "number", "minimum": 0, "default": 10},
            },
        },
        "emulate": {
            "type": "boolean",
            "default": False,
            "description": f"Talk to the built-in {crm} emulator instead of a real account.",
        },
        "seed": {"type": "string", "description": "YAML file the emulator starts from."},
    }


def retry_policy(config: Mapping[str, Any]) -> RetryPolicy:
    """The in-call retry policy of a connection entry (``retries:``)."""
    from jivocrm.core.retry import IN_CALL

    retries = config.get("retries") or {}
    return RetryPolicy(
        attempts=int(retries.get("attempts", IN_CALL.attempts)),
        initial=float(retries.get("initial", IN_CALL.initial)),
        multiplier=IN_CALL.multiplier,
        max_delay=float(retries.get("max_delay", IN_CALL.max_delay)),
    )
