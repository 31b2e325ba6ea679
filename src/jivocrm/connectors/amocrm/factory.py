"""amoCRM (Kommo) API v4: the connection schema, the connector and its emulator."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jivocrm.connectors.amocrm import errors
from jivocrm.connectors.amocrm.auth import Auth, LongLivedToken, OAuth2
from jivocrm.connectors.amocrm.client import AmoCRMConnector
from jivocrm.connectors.amocrm.schema import BASE_URL_PATTERN
from jivocrm.connectors.http import Response, Transport
from jivocrm.connectors.ratelimit import REAL, Clock, WindowRateLimiter
from jivocrm.connectors.spec import ConnectionContext, retry_policy
from jivocrm.connectors.tokens import FileTokenStore, TokenStore
from jivocrm.core.errors import ConnectorError

if TYPE_CHECKING:
    from aiohttp import web


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> AmoCRMConnector:
    """A connector from a connection entry whose ``${ENV}`` references are already resolved."""
    domain = config.get("domain", "amocrm.ru")
    ui_url = f"https://{config['subdomain']}.{domain}" if config.get("subdomain") else ""
    base_url = str(config.get("base_url") or ui_url)
    if config.get("base_url") and not re.match(BASE_URL_PATTERN, base_url):
        raise errors.insecure_url(base_url)
    base_url = ctx.emulator_url or base_url
    if not base_url:
        raise errors.no_address(ctx.name)
    rate = float((config.get("rate_limit") or {}).get("rate", 7))
    limiter = ctx.limiter or window_limiter(rate)
    policy = retry_policy(config)
    auth_holder: list[Auth] = []

    def transport(endpoint: str | None) -> Transport:
        def classify(response: Response) -> ConnectorError | None:
            if endpoint == "oauth" and auth_holder and isinstance(auth_holder[0], OAuth2):
                auth_holder[0].note_issued(response.data)
            return errors.classify(response, endpoint=endpoint)

        return Transport(
            ctx.session,
            name=ctx.name,
            limiter=limiter,
            classify=classify,
            timeout=float(config.get("timeout", 10)),
            retry=policy,
            secrets=lambda: auth_holder[0].secrets() if auth_holder else [],
        )

    auth_config = config.get("auth") or {}
    auth: Auth
    if "oauth" in auth_config:
        store: TokenStore = ctx.token_store or FileTokenStore(ctx.state_dir / "tokens")
        auth = OAuth2(
            name=ctx.name,
            config=auth_config["oauth"],
            store=store,
            transport=transport("oauth"),
            token_url=f"{base_url.rstrip('/')}/oauth2/access_token",
        )
    else:
        auth = LongLivedToken(str(auth_config.get("long_lived_token", "")))
    auth_holder.append(auth)
    return AmoCRMConnector(
        name=ctx.name,
        base_url=base_url,
        ui_url=ui_url or base_url,
        auth=auth,
        api=transport(None),
        users=transport("users"),
    )


# Requests are counted where they leave but amoCRM counts them where they arrive: connection
# set-up and network jitter bunch a window's requests closer together at the server (measured
# here: the first seven arrive ~8 ms late, behind new connections). A window 10% longer than a
# second still lets `rate` requests through per window but leaves ~100 ms of jitter margin
# (50 ms proved too thin on a loaded 2-core machine).
WINDOW = 1.1


def window_limiter(rate: float, clock: Clock = REAL) -> WindowRateLimiter:
    """amoCRM's limiter for ``rate`` requests per second: that many per ``WINDOW``."""
    per_window = max(1, math.floor(rate))
    # WindowRateLimiter allows int(rate * period) per period; the epsilon keeps float rounding
    # from taking one request off.
    return WindowRateLimiter((per_window + 1e-6) / WINDOW, period=WINDOW, clock=clock)


def _emulator(seed: Path | None) -> web.Application:
    # Imported on use: the daemon imports every connector, but only `emulate: true` needs this.
    from jivocrm.connectors.amocrm.emulator import create_app

    return create_app(seed)


__all__ = ["build"]
