"""The validated project as typed, immutable objects: what ``load_project`` hands to the rest."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jivocrm.core.retry import DURABLE, RetryPolicy

if TYPE_CHECKING:
    from jivocrm.engine.events import JivoEvent


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    index: int
    params: dict[str, Any]  # the step's own keys, templates not yet rendered
    connection: str | None = None
    when: str | None = None
    on_error: str = "fail"


@dataclass(frozen=True)
class Bundle:
    name: str
    file: str  # as reported in messages, relative to the project root
    event: str
    steps: tuple[Step, ...]
    enabled: bool = True
    description: str = ""
    channels: tuple[str, ...] = ()
    # OR of AND-groups; empty = no filter
    filter: tuple[tuple[Condition, ...], ...] = ()
    lane: str | None = None
    # sha256 of the bundle's content; each run records the version it ran with
    version_hash: str = ""
    source: dict[str, Any] = field(default_factory=dict, compare=False)
    text: str = field(default="", compare=False, repr=False)  # the file as hashed

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    @property
    def replies(self) -> bool:
        """Whether a step of the bundle makes the reply Jivo reads (its spec says ``reply``)."""
        from jivocrm.steps import STEPS

        return any(s.type in STEPS and STEPS[s.type].reply for s in self.steps)


@dataclass(frozen=True)
class Channel:
    name: str
    widget_id: str
    token: str  # as written: usually a ${VAR} reference


@dataclass(frozen=True)
class Connection:
    name: str
    type: str
    config: dict[str, Any]  # as written (references unresolved)
    emulate: bool = False


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int | str = 8080
    public_url: str | None = None
    reply_timeout: float = 2.5
    body_limit: int = 1024 * 1024
    workers: int = 8
    shutdown_timeout: float = 20.0
    # A client gets this long to send a request's headers, and then its body (slowloris).
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    # Host names the journal pages answer besides loopback names and public_url's host.
    allowed_hosts: tuple[str, ...] = ()
    # Reverse proxies (addresses or networks) whose X-Forwarded-For / -Proto are believed.
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # From YAML these arrive as lists; a frozen config keeps tuples.
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))


@dataclass(frozen=True)
class JournalConfig:
    retention_days: int = 30
    max_events: int = 0
    redact_personal_data: bool = False


@dataclass(frozen=True)
class NotifyConfig:
    webhook_url: str | None = None
    timeout: float = 5.0
    group_wait: float = 10.0
    group_interval: float = 120.0
    email: dict[str, Any] | None = None  # as written (references unresolved)
    telegram: dict[str, Any] | None = None


@dataclass(frozen=True)
class Project:
    root: Path
    file: Path
    bundles: tuple[Bundle, ...]
    channels: dict[str, Channel]
    connections: dict[str, Connection]
    server: ServerConfig = ServerConfig()
    store: str = "sqlite:///.jivocrm/jivocrm.db"
    region: str = "RU"
    timezone: str = "UTC"
    # The language of human text where nothing asks for another; None: the environment's.
    language: str | None = None
    metadata_path: Path | None = None
    journal: JournalConfig = JournalConfig()
    notify: NotifyConfig = NotifyConfig()
    retry: RetryPolicy = field(default_factory=lambda: DURABLE)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def parse(self, payload: Mapping[str, Any]) -> JivoEvent:
        """A webhook body as this project reads it: its phone region, its clock."""
        from jivocrm.engine.events import parse_event

        names = {c.widget_id: c.name for c in self.channels.values()}
        return parse_event(payload, region=self.region, timezone=self.timezone, channels=names)

    def bundle(self, name: str) -> Bundle | None:
        return next((b for b in self.bundles if b.name == name), None)

    @functools.cached_property
    def unread_at_intake(self) -> frozenset[str]:
        """The costly computed fields (``transcript``, ``phone``) that no filter or lane template
        reads: intake matches without them, and a run computes every field from the stored
        body anyway."""
        read = {
            c.field.split(".")[0].split("[")[0] for b in self.bundles for g in b.filter for c in g
        }
        lanes = " ".join(b.lane for b in self.bundles if b.lane)
        return frozenset(f for f in ("transcript", "phone") if f not in read and f not in lanes)

    @functools.cached_property
    def environ(self) -> Mapping[str, str]:
        """What ``${VAR}`` references resolve against: the environment, then ``.env``."""
        from jivocrm.engine.envvars import project_environ

        return project_environ(self.root)

    def channel_for_token(self, token: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.token == token), None)
