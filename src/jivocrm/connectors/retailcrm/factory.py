"""RetailCRM's connector from a resolved connection entry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.http import Transport
from jivocrm.connectors.ratelimit import per_second
from jivocrm.connectors.retailcrm import errors
from jivocrm.connectors.retailcrm.client import RetailCRMConnector
from jivocrm.connectors.retailcrm.schema import DEFAULT_RATE, URL_PATTERN
from jivocrm.connectors.spec import ConnectionContext, retry_policy

# The key of the emulator's default account (cli `emulate` prints the same).
EMULATOR_KEY = "emulator-api-key"


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> RetailCRMConnector:
    """A connector from a connection entry whose ``${ENV}`` references are already resolved."""
    url = str(config.get("url") or "").rstrip("/")
    if url and not re.match(URL_PATTERN, url):
        raise errors.insecure_url(url)
    base_url = ctx.emulator_url or url
    if not base_url:
        raise errors.no_address(ctx.name)
    key = EMULATOR_KEY if ctx.emulator_url and config.get("emulate") else str(config["api_key"])
    rate = float((config.get("rate_limit") or {}).get("rate", DEFAULT_RATE[0]))
    transport = Transport(
        ctx.session,
        name=ctx.name,
        limiter=ctx.limiter or per_second(rate),
        classify=errors.classify,
        timeout=float(config.get("timeout", 10)),
        retry=retry_policy(config),
        secrets=lambda: [key],
    )
    return RetailCRMConnector(
        name=ctx.name,
        base_url=base_url,
        ui_url=url or base_url,
        api=transport,
        api_key=key,
        site=config.get("site"),
        order_method=config.get("order_method"),
    )
