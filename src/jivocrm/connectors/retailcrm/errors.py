"""Every RetailCRM answer classified in one place, and every message a user sees about it.

``classify`` turns a response into ``None`` (success) or one of::

    RetriableError   503 "Rate limit exceeded" (over 10 requests/s per key), 429, other 5xx
    AuthError        403 no key / wrong key / the key lacks the method's access, 401,
                     an HTML page instead of JSON (no account at that address)
    FatalError       400 input or entity errors (with their fields), 404, other 4xx

RetailCRM answers JSON with ``success``, ``errorMsg`` and, for entity errors, ``errors`` (an
object by field, or a list). Messages say what to do next and never contain the key; they are
``Text``: English in logs and the journal, the reader's language where a person reads them.
"""

from __future__ import annotations

from typing import Any

from jivocrm.connectors.http import Response
from jivocrm.core.errors import AuthError, ConnectorError, FatalError, RetriableError
from jivocrm.core.i18n import Text

PREFIX = "RetailCRM"
# Where the account's menu keeps API keys, as its interface names the items.
KEYS_PAGE = Text("Settings › Integration › API access keys")


def classify(response: Response) -> ConnectorError | None:
    status = response.status
    body: dict[str, Any] = response.data if isinstance(response.data, dict) else {}
    if 200 <= status < 300 and body.get("success") is not False:
        return None
    if response.data is None and response.body.lstrip()[:1] == b"<":
        return no_account(status)
    message = str(body.get("errorMsg") or "").strip()
    detail = f": {message}" if message else ""
    if status in (429, 503) and (status == 429 or "limit" in message.casefold() or not message):
        return RetriableError(
            Text(
                "RetailCRM: too many requests ({status}, over 10 requests/s per API key); waiting"
                " and retrying. If this repeats, lower `rate_limit.rate` on the connection",
                status=status,
            ),
            status=status,
            code="rate_limited",
            retry_after=1.0,
        )
    if status >= 500:
        return RetriableError(
            Text(
                "RetailCRM: server error ({status}{detail}); retrying later",
                status=status,
                detail=detail,
            ),
            status=status,
            code="server_error",
        )
    if status in (401, 403):
        return _refused(status, message)
    if status == 400:
        return _invalid(message, body.get("errors"))
    if status == 404:
        if message.casefold().startswith("method"):
            return FatalError(
                Text(
                    "RetailCRM: no such API method (404): check `url`, it is the account's"
                    " address such as https://myshop.retailcrm.ru"
                ),
                status=status,
                code="no_method",
            )
        return FatalError(
            Text(
                "RetailCRM: not found (404{detail}): the record was deleted in RetailCRM, or the"
                " id belongs to another store",
                detail=detail,
            ),
            status=status,
            code="not_found",
        )
    if 300 <= status < 400:
        where = response.headers.get("Location") or Text("another address")
        return FatalError(
            Text(
                "RetailCRM: the account's address redirects to {where}: put that address in `url`",
                where=where,
            ),
            status=status,
            code="redirect",
        )
    return FatalError(
        Text("RetailCRM: request refused ({status}{detail})", status=status, detail=detail),
        status=status,
        code="http",
    )


def _refused(status: int, message: str) -> AuthError:
    lowered = message.casefold()
    if "apikey" in lowered.replace(" ", "").replace('"', ""):
        return AuthError(
            Text(
                "RetailCRM: the API key is missing or wrong ({status}: {message}). Create a key"
                " in {place} and put it in the connection's `api_key`",
                status=status,
                message=message,
                place=KEYS_PAGE,
            ),
            status=status,
            code="bad_key",
        )
    if "site" in lowered:
        return AuthError(
            Text(
                "RetailCRM: the API key has no access to this store ({status}: {message}): allow"
                " the store for the key in {place}, or set `site` to a store it can reach",
                status=status,
                message=message,
                place=KEYS_PAGE,
            ),
            status=status,
            code="site_denied",
        )
    return AuthError(
        Text(
            "RetailCRM: the API key may not do this ({status}{detail}). In {place}, allow the"
            " key customers, orders, tasks, users and reference data (read and write)",
            status=status,
            detail=": " + message if message else "",
            place=KEYS_PAGE,
        ),
        status=status,
        code="access_denied",
    )


def _invalid(message: str, errors: Any) -> FatalError:
    if "parameter 'site' is missing" in message.casefold():
        return FatalError(
            Text(
                "RetailCRM: the API key reaches several stores, so each write must name one: set"
                " `site:` on the connection (the store's code), or a `pipeline` on the deal"
            ),
            status=400,
            code="site_missing",
        )
    fields = _fields(errors)
    return FatalError(
        Text(
            "RetailCRM rejected the data: {reason}{fields}. Fix the values the step maps into"
            " these fields",
            reason=message or Text("invalid request"),
            fields=f" ({fields})" if fields else "",
        ),
        status=400,
        code="validation",
    )


def _fields(errors: Any) -> str:
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {v}" for k, v in errors.items())
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)
    return ""


def no_account(status: int) -> AuthError:
    return AuthError(
        Text(
            "RetailCRM: the address answers a web page, not the API ({status}): there is no"
            " account there. Check `url`, e.g. https://myshop.retailcrm.ru",
            status=status,
        ),
        status=status,
        code="no_account",
    )


def insecure_url(url: str) -> FatalError:
    return FatalError(
        Text(
            "RetailCRM: url {url!r} is not https: add https://, the correct form is"
            " https://myshop.retailcrm.ru (plain http is allowed only for 127.0.0.1 and"
            " localhost)",
            url=url,
        ),
        code="insecure_url",
    )


def no_address(connection: str) -> FatalError:
    return FatalError(
        Text(
            "RetailCRM: connection '{connection}' has no `url`: add the account's address, e.g."
            " url: https://myshop.retailcrm.ru",
            connection=connection,
        ),
        code="no_address",
    )


def unexpected_answer(what: str) -> FatalError:
    return FatalError(
        Text(
            "RetailCRM: unexpected answer to {what}; check that `url` points at a RetailCRM"
            " account",
            what=what,
        ),
        code="unexpected_answer",
    )
