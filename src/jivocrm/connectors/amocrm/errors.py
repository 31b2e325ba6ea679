"""Every amoCRM answer classified in one place, and every message a user sees about it.

``classify`` turns a response into ``None`` (success) or one of::

    RetriableError   429 (wait hint: body ``retry_after``, else ``Retry-After``), 5xx
    AuthError        401 expired/revoked token, 402 account not paid, 403 no rights / blocked,
                     400 with an OAuth ``hint`` (refresh token or code no longer valid)
    FatalError       400 validation errors (with their field paths), 404, 405, 422, other 4xx

Messages say what to do next and never contain a token: the transport redacts the connection's
secrets from recorded calls, and nothing here echoes request headers. They are ``Text``: English
in logs and the journal, the reader's language where a person reads them.
"""

from __future__ import annotations

from typing import Any

from jivocrm.connectors.http import Response
from jivocrm.core.errors import AuthError, ConnectorError, FatalError, RetriableError
from jivocrm.core.i18n import Text

PREFIX = "amoCRM"


def classify(response: Response, *, endpoint: str | None = None) -> ConnectorError | None:
    """The error an answer means, or None when it is a success.

    ``endpoint`` names the API path family when it changes the meaning (``"users"``: a 403 there
    means the token's user is not an administrator).
    """
    status = response.status
    if 200 <= status < 300:
        return None
    body: dict[str, Any] = response.data if isinstance(response.data, dict) else {}
    detail = _detail(body, response)
    if status == 429:
        return RetriableError(
            Text(
                "amoCRM: too many requests (429, over 7 requests/s); waiting as asked and"
                " retrying. If this repeats, lower `rate_limit.rate` on the connection: repeated"
                " 429s get the account's IP blocked"
            ),
            status=status,
            code="rate_limited",
            retry_after=_number(body.get("retry_after")),
        )
    if status >= 500:
        return RetriableError(
            Text(
                "amoCRM: server error ({status}{detail}); retrying later",
                status=status,
                detail=detail,
            ),
            status=status,
            code="server_error",
        )
    if status == 401:
        return AuthError(
            Text(
                "amoCRM: token expired or revoked (401{detail}). Generate a new long-lived token"
                " in the integration's settings (Keys and scopes), or re-authorize the OAuth"
                " integration and put a fresh authorization_code in the connection",
                detail=detail,
            ),
            status=status,
            code="unauthorized",
        )
    if status == 402:
        return AuthError(
            Text(
                "amoCRM: the account is not paid (402 Payment Required): renew the subscription,"
                " then replay the failed runs"
            ),
            status=status,
            code="payment_required",
        )
    if status == 403:
        return _forbidden(detail, endpoint)
    if status == 400 and body.get("hint"):
        return oauth_rejected(str(body["hint"]))
    if status == 400 and isinstance(body.get("validation-errors"), list):
        return FatalError(
            Text(
                "amoCRM rejected the data: {errors}. Fix the values the step maps into these"
                " fields",
                errors=_validation(body["validation-errors"]),
            ),
            status=status,
            code="validation",
        )
    if status == 404:
        return FatalError(
            Text(
                "amoCRM: not found (404{detail}): check `subdomain`/`base_url`, or the record was"
                " deleted in amoCRM",
                detail=detail,
            ),
            status=status,
            code="not_found",
        )
    if status == 422:
        return FatalError(
            Text(
                "amoCRM: the request cannot be processed (422{detail}); at most 250 records go"
                " in one request",
                detail=detail,
            ),
            status=status,
            code="unprocessable",
        )
    if 300 <= status < 400:
        where = response.headers.get("Location") or Text("another address")
        return FatalError(
            Text(
                "amoCRM: the account's address redirects to {where}: check `subdomain` and"
                " `domain` (amocrm.ru or kommo.com)",
                where=where,
            ),
            status=status,
            code="redirect",
        )
    return FatalError(
        Text("amoCRM: request refused ({status}{detail})", status=status, detail=detail),
        status=status,
        code="http",
    )


def _forbidden(detail: str, endpoint: str | None) -> AuthError:
    if endpoint == "users":
        return AuthError(
            Text(
                "amoCRM: the token's user is not an administrator (403 on /api/v4/users): create"
                " the integration and its token as an account administrator"
            ),
            status=403,
            code="not_admin",
        )
    return AuthError(
        Text(
            "amoCRM: access forbidden (403{detail}). The account or this server's IP may be"
            " blocked after repeated 429 answers, or the IP is not in the account's whitelist:"
            " lower `rate_limit.rate`, wait, and check the account's security settings",
            detail=detail,
        ),
        status=403,
        code="forbidden",
    )


def oauth_rejected(hint: str) -> AuthError:
    return AuthError(
        Text(
            "amoCRM OAuth: {hint}. The refresh token or authorization code is no longer valid"
            " (refresh tokens are single-use; was it used elsewhere?): re-authorize the"
            " integration and put a fresh `authorization_code` in the connection's auth.oauth",
            hint=hint,
        ),
        status=400,
        code="oauth_hint",
    )


def oauth_not_configured(connection: str) -> AuthError:
    return AuthError(
        Text(
            "amoCRM OAuth: connection '{connection}' has no stored tokens, no refresh_token and"
            " no authorization_code: authorize the integration in amoCRM and put the code in"
            " auth.oauth.authorization_code",
            connection=connection,
        ),
        code="oauth_missing",
    )


def insecure_url(url: str) -> FatalError:
    return FatalError(
        Text(
            "amoCRM: base_url {url!r} is not https: add https://, the correct form is"
            " https://myaccount.amocrm.ru (plain http is allowed only for 127.0.0.1 and"
            " localhost)",
            url=url,
        ),
        code="insecure_url",
    )


def no_address(connection: str) -> FatalError:
    return FatalError(
        Text(
            "amoCRM: connection '{connection}' has neither `subdomain` nor `base_url`: add"
            " `subdomain: myaccount` for https://myaccount.amocrm.ru",
            connection=connection,
        ),
        code="no_address",
    )


def unexpected_answer(what: str) -> FatalError:
    return FatalError(
        Text(
            "amoCRM: unexpected answer to {what}; check that base_url points at an amoCRM account",
            what=what,
        ),
        code="unexpected_answer",
    )


def _validation(items: list[Any]) -> str:
    parts: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        rid = str(item.get("request_id", "0"))
        for err in item.get("errors") or []:
            if not isinstance(err, dict):
                continue
            where = err.get("path") or "?"
            if rid != "0":
                where = f"[{rid}] {where}"
            code = f" ({err['code']})" if err.get("code") else ""
            parts.append(f"{where}: {err.get('detail', 'invalid')}{code}")
    return "; ".join(parts) or "validation failed"


def _detail(body: dict[str, Any], response: Response) -> str:
    text = body.get("detail") or body.get("title")
    if not text and response.body and response.data is None:
        text = response.body[:200].decode("utf-8", "replace").strip()
    return f": {text}" if text else ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
