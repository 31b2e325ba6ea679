"""Every Bitrix24 answer classified in one place, and every message a user sees about it.

``classify`` turns a response into ``None`` (success) or one of::

    RetriableError   QUERY_LIMIT_EXCEEDED (503), OPERATION_TIME_LIMIT (429), OVERLOAD_LIMIT,
                     other 5xx (network errors and timeouts: the transport)
    AuthError        expired_token, invalid_token, NO_AUTH_FOUND, INVALID_CREDENTIALS,
                     ERROR_OAUTH "Application not installed", insufficient_scope, ACCESS_DENIED,
                     method_confirm_waiting, user_access_error; OAuth server invalid_grant,
                     invalid_client
    FatalError       ERROR_METHOD_NOT_FOUND, 400 method validation (empty ``error``, or a
                     method's own code: INVALID_ARG_VALUE, NOT_FOUND, 100…), ERROR_BATCH_*,
                     PORTAL_DELETED, INVALID_REQUEST "Https required", other 4xx

``error_for`` does the same for one command's entry in a batch's ``result_error``. Messages say
what to do and never contain the webhook code or a token: nothing here echoes a URL. They are
``Text``: English in logs and the journal, the reader's language where a person reads them.
"""

from __future__ import annotations

from typing import Any

from jivocrm.connectors.http import Response
from jivocrm.core.errors import AuthError, ConnectorError, FatalError, RetriableError
from jivocrm.core.i18n import Text

PREFIX = "Bitrix24"
# Codes of methods refusing the values sent (crm.item.*, crm.timeline.comment.add, ERROR_CORE).
DATA_REFUSED = frozenset({"ERROR_CORE", "INVALID_ARG_VALUE", "100", "Invalid parameters."})
# Where the portal's menu keeps incoming webhooks, as its interface names the items.
WEBHOOK_PLACE = Text("Bitrix24 → Developer resources → Other → Incoming webhook")


def scope_of(method: str | None) -> str:
    """The permission scope a REST method needs (``crm.deal.add`` → ``crm``)."""
    if not method:
        return "crm"
    head = method.split(".", 1)[0].lower()
    return {"tasks": "task", "task": "task", "user": "user"}.get(head, head)


def classify(
    response: Response, *, method: str | None = None, oauth: bool = False
) -> ConnectorError | None:
    """The error an answer means, or None when it is a success.

    ``method`` is the REST method called (it names the scope to add); ``oauth`` says whether the
    connection is an application (so a credentials error points at the application, not a webhook).
    """
    body: dict[str, Any] = response.data if isinstance(response.data, dict) else {}
    code = body.get("error")
    if 200 <= response.status < 300 and not code:
        return None
    return error_for(
        response.status,
        str(code) if code is not None else None,
        str(body.get("error_description") or ""),
        method=method,
        oauth=oauth,
    )


def error_for(
    status: int | None,
    code: str | None,
    description: str,
    *,
    method: str | None = None,
    oauth: bool = False,
) -> ConnectorError:
    """One Bitrix24 error (an HTTP answer, or a batch command's ``result_error`` entry)."""
    shown = code or "validation"
    what = f" {method}" if method else ""
    call = method or Text("the call")

    def said(text: Text) -> Text:
        return Text("Bitrix24 {code}: {problem}", code=shown, problem=text)

    def retriable(text: Text) -> RetriableError:
        return RetriableError(said(text), status=status, code=code)

    def auth(text: Text) -> AuthError:
        return AuthError(said(text), status=status, code=code)

    def fatal(text: Text) -> FatalError:
        return FatalError(said(text), status=status, code=code)

    match code:
        case "QUERY_LIMIT_EXCEEDED":
            return retriable(
                Text(
                    "too many requests for the portal's leaky bucket; retrying. If this repeats,"
                    " lower `rate_limit` on the connection (other apps on the portal share the"
                    " limit)"
                )
            )
        case "OPERATION_TIME_LIMIT":
            return retriable(
                Text(
                    "the method{what} used up its execution-time budget (10-minute window);"
                    " retrying later",
                    what=what,
                )
            )
        case "OVERLOAD_LIMIT":
            return retriable(Text("REST API is blocked due to overload; retrying later"))
        case "PORTAL_DELETED":
            return fatal(Text("the portal was deleted: check the portal address of the connection"))
        case "expired_token":
            return auth(
                Text(
                    "the OAuth access token expired and could not be renewed: check `oauth` on"
                    " the connection (client_id, client_secret, refresh_token)"
                )
            )
        case "invalid_token":
            return auth(
                Text(
                    "the OAuth access token is invalid: reinstall the application and put its"
                    " new refresh_token in the connection"
                )
            )
        case "invalid_grant":
            return auth(
                Text(
                    "the refresh token expired or was already used: authorise the application"
                    " again and put the new refresh_token in the connection"
                )
            )
        case "invalid_client":
            return auth(
                Text(
                    "client_id or client_secret is wrong, or the application is not installed on"
                    " the portal: copy both from the application's settings"
                )
            )
        case "NO_AUTH_FOUND":
            if oauth:
                return auth(
                    Text(
                        "the portal did not accept the access token: reinstall the application"
                        " and put its new refresh_token in the connection"
                    )
                )
            return auth(
                Text(
                    "webhook code is wrong or the webhook was deleted: copy the webhook URL"
                    " again from {place}",
                    place=WEBHOOK_PLACE,
                )
            )
        case "INVALID_CREDENTIALS":
            return auth(
                Text(
                    "the webhook's owner lacks the rights for this, or the webhook is blocked:"
                    " give the user access to the CRM and unblock the webhook in {place}",
                    place=WEBHOOK_PLACE,
                )
            )
        case "ERROR_OAUTH":
            return auth(
                Text(
                    "application not installed: install the application in Bitrix24; if it is"
                    " installed, remove and install it again"
                )
            )
        case "insufficient_scope" | "invalid_scope":
            where = (
                Text("the application's settings, then reinstall it") if oauth else WEBHOOK_PLACE
            )
            return auth(
                Text(
                    "{call} needs the '{scope}' scope: add it in {where}",
                    call=call,
                    scope=scope_of(method),
                    where=where,
                )
            )
        case "ACCESS_DENIED":
            return auth(
                Text(
                    "REST API is available only on commercial plans: upgrade the portal's plan"
                    " ({description})",
                    description=description or Text("access denied"),
                )
            )
        case "method_confirm_waiting":
            return auth(
                Text(
                    "a portal administrator must confirm the method{what} for this application"
                    " (Applications → the application → Confirm)",
                    what=what,
                )
            )
        case "user_access_error":
            return auth(
                Text(
                    "the application is available to other users only: add this user in the"
                    " application's access settings"
                )
            )
        case "ERROR_METHOD_NOT_FOUND":
            return fatal(
                Text(
                    "Bitrix24 does not know the method{what}: check that the webhook URL has the"
                    " form https://<portal>/rest/<user id>/<code>/",
                    what=what,
                )
            )
        case "ERROR_BATCH_LENGTH_EXCEEDED":
            return fatal(Text("more than 50 commands in one batch: report this as a jivocrm bug"))
        case "ERROR_BATCH_METHOD_NOT_ALLOWED":
            return fatal(
                Text(
                    "the method{what} is not allowed inside a batch: report this as a bug",
                    what=what,
                )
            )
        case "INVALID_REQUEST" if "https" in description.lower():
            return fatal(Text("Https required: use an https:// address for the portal"))
        case _:
            pass
    if code and code.startswith("ERROR_BATCH"):
        return fatal(
            Text(
                "the batch was refused ({reason}): report this as a bug",
                reason=description or code,
            )
        )
    if status is not None and status >= 500:
        return retriable(
            Text(
                "server error ({status}{said}); retrying later",
                status=status,
                said=_said(description),
            )
        )
    if status == 429:
        return retriable(Text("too many requests; retrying later"))
    if status in (401, 403):
        return auth(
            Text(
                "access refused ({status}{said}): check the credentials",
                status=status,
                said=_said(description),
            )
        )
    if code in ("NOT_FOUND", "OWNER_NOT_FOUND"):
        return fatal(
            Text(
                "{call}: {reason}; the record may have been deleted in Bitrix24",
                call=call,
                reason=description.rstrip(".") or Text("not found"),
            )
        )
    if not code or code in DATA_REFUSED:
        # Method-level validation: the legacy crm.* methods answer HTTP 400 with an empty
        # `error`, newer ones (crm.item.*, crm.timeline.*) with a code of their own.
        return fatal(
            Text(
                "{call} refused the data: {reason}. Fix the values the step maps",
                call=call,
                reason=description.rstrip(".") or Text("no reason given"),
            )
        )
    return fatal(Text("{call} failed{said}", call=call, said=_said(description)))


def _said(description: str) -> str:
    return f": {description}" if description else ""
