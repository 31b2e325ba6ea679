"""Bitrix24: incoming webhooks or an OAuth application, REST over JSON, a leaky-bucket limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.bitrix24.auth import OAuthAuth, WebhookAuth
from jivocrm.connectors.bitrix24.client import Bitrix24Connector
from jivocrm.connectors.bitrix24.emulator_state import load_seed
from jivocrm.connectors.bitrix24.rest import Rest
from jivocrm.connectors.bitrix24.schema import (
    DEFAULT_OAUTH_SERVER,
    DEFAULT_RATE,
    check_portal_url,
    check_webhook_url,
    parse_webhook_url,
)
from jivocrm.connectors.ratelimit import BucketRateLimiter
from jivocrm.connectors.spec import ConnectionContext, retry_policy
from jivocrm.connectors.tokens import FileTokenStore, TokenStore
from jivocrm.core.errors import FatalError
from jivocrm.core.i18n import Text


def build(config: Mapping[str, Any], ctx: ConnectionContext) -> Bitrix24Connector:
    """A connector from a resolved connection entry; ``ctx.emulator_url`` replaces the portal."""
    emulator = ctx.emulator_url.rstrip("/") if ctx.emulator_url else None
    auth: WebhookAuth | OAuthAuth
    default_user: str | None = None
    if config.get("webhook_url"):
        problem = check_webhook_url(str(config["webhook_url"]))
        if problem:
            raise FatalError(
                Text(
                    "connection {name}: {key}: {problem}",
                    name=ctx.name,
                    key="webhook_url",
                    problem=problem,
                )
            )
        hook = parse_webhook_url(str(config["webhook_url"]))
        auth = WebhookAuth(emulator or hook.base, hook.user_id, hook.code)
        portal_url, default_user = hook.base, hook.user_id
    elif config.get("oauth"):
        oauth = config["oauth"]
        for key in ("portal", "oauth_server"):
            if oauth.get(key) and (problem := check_portal_url(str(oauth[key]))):
                raise FatalError(
                    Text(
                        "connection {name}: {key}: {problem}",
                        name=ctx.name,
                        key="oauth." + key,
                        problem=problem,
                    )
                )
        portal_url = str(oauth["portal"]).rstrip("/")
        store: TokenStore = ctx.token_store or FileTokenStore(ctx.state_dir / "tokens")
        auth = OAuthAuth(
            name=ctx.name,
            base=emulator or portal_url,
            oauth_server=str(oauth.get("oauth_server") or emulator or DEFAULT_OAUTH_SERVER),
            client_id=str(oauth["client_id"]),
            client_secret=str(oauth["client_secret"]),
            refresh_token=str(oauth["refresh_token"]),
            store=store,
        )
    elif config.get("emulate") and emulator:
        # `emulate: true` alone: the emulator's own default webhook.
        hook_seed = load_seed(None)["webhooks"][0]
        auth = WebhookAuth(emulator, str(hook_seed["user_id"]), str(hook_seed["code"]))
        portal_url, default_user = emulator, str(hook_seed["user_id"])
    else:
        raise FatalError(
            Text(
                "connection {name}: give `webhook_url` (https://myaccount.bitrix24.ru/rest/1/"
                "<code>/) or `oauth`",
                name=ctx.name,
            )
        )
    limits = config.get("rate_limit") or {}
    rate = float(limits.get("rate", DEFAULT_RATE[0]))
    burst = int(limits.get("burst", DEFAULT_RATE[1]))
    retry = retry_policy(config)
    rest = Rest(
        auth,
        session=ctx.session,
        name=ctx.name,
        # One below the portal's burst: the portal measures arrival times, which jitter against
        # our send times, and a bucket of the very same size would sit on the edge and draw 503s.
        limiter=ctx.limiter or BucketRateLimiter(rate, max(1, burst - 1)),
        timeout=float(config.get("timeout", 10)),
        retry=retry,
    )
    return Bitrix24Connector(rest, portal_url=portal_url, default_user=default_user)


__all__ = ["build"]
