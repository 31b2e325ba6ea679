"""What a CRM brings to jivocrm: its connection schema, its connector and its emulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from jivocrm.connectors.base import Connector
    from jivocrm.connectors.ratelimit import RateLimiter


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
    # Default rate limit of one account: (requests per second, burst)
    default_rate: tuple[float, int] = (7.0, 1)
    docs: Mapping[str, str] = field(default_factory=dict)
