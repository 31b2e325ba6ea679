"""What a CRM brings to jivocrm: its connection schema, its connector and its emulator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jivocrm.engine.retry import RetryPolicy

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
    # The ``connections:`` YAML that points a project at ``jivocrm emulate`` running at {url},
    # with the credentials of the emulator's default seed (printed by the command).
    emulator_snippet: str = ""
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
    from jivocrm.engine.retry import IN_CALL

    retries = config.get("retries") or {}
    return RetryPolicy(
        attempts=int(retries.get("attempts", IN_CALL.attempts)),
        initial=float(retries.get("initial", IN_CALL.initial)),
        multiplier=IN_CALL.multiplier,
        max_delay=float(retries.get("max_delay", IN_CALL.max_delay)),
    )
