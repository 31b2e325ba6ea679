"""Every Bitrix24 error answer: its class (retriable, auth, fatal) and the message a user sees.

The same answers are produced by the emulator over HTTP in
``tests/integration/test_bitrix24_errors.py``; here ``classify`` is checked on its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jivocrm.connectors.bitrix24.errors import classify, error_for, scope_of
from jivocrm.connectors.http import Response
from jivocrm.core.errors import AuthError, ConnectorError, FatalError, RetriableError


def answer(status: int, error: str | None, description: str = "") -> Response:
    data: Any = {"error": error, "error_description": description} if error is not None else None
    body = json.dumps(data).encode() if data is not None else b"<html>Bad gateway</html>"
    return Response(status=status, headers={}, body=body, data=data)


def classified(status: int, error: str | None, description: str = "", **kw: Any) -> ConnectorError:
    found = classify(answer(status, error, description), **kw)
    assert found is not None
    return found


def test_success_is_none() -> None:
    ok = Response(200, {}, b'{"result": 1}', {"result": 1, "time": {}})
    assert classify(ok) is None
    empty = Response(200, {}, b'{"result": []}', {"result": [], "time": {}})
    assert classify(empty) is None


@pytest.mark.parametrize(
    ("status", "code", "kind", "words"),
    [
        (503, "QUERY_LIMIT_EXCEEDED", RetriableError, "lower `rate_limit`"),
        (429, "OPERATION_TIME_LIMIT", RetriableError, "execution-time budget"),
        (503, "OVERLOAD_LIMIT", RetriableError, "overload"),
        (500, "INTERNAL_SERVER_ERROR", RetriableError, "retrying later"),
        (502, None, RetriableError, "server error (502"),
        (401, "expired_token", AuthError, "refresh_token"),
        (401, "invalid_token", AuthError, "reinstall the application"),
        (
            401,
            "NO_AUTH_FOUND",
            AuthError,
            "webhook code is wrong or the webhook was deleted: copy the webhook URL again from"
            " Bitrix24 → Developer resources",
        ),
        (403, "INVALID_CREDENTIALS", AuthError, "webhook is blocked"),
        (
            401,
            "ERROR_OAUTH",
            AuthError,
            "install the application in Bitrix24; if it is installed, remove and install it again",
        ),
        (403, "ACCESS_DENIED", AuthError, "only on commercial plans"),
        (401, "method_confirm_waiting", AuthError, "administrator must confirm"),
        (403, "user_access_error", AuthError, "access settings"),
        (400, "invalid_grant", AuthError, "authorise the application again"),
        (401, "invalid_client", AuthError, "client_id or client_secret"),
        (404, "ERROR_METHOD_NOT_FOUND", FatalError, "https://<portal>/rest/<user id>/<code>/"),
        (400, "ERROR_BATCH_LENGTH_EXCEEDED", FatalError, "more than 50 commands"),
        (405, "ERROR_BATCH_METHOD_NOT_ALLOWED", FatalError, "not allowed inside a batch"),
        (500, "PORTAL_DELETED", FatalError, "portal was deleted"),
        (400, "INVALID_REQUEST", FatalError, "Https required: use an https:// address"),
    ],
)
def test_known_errors(status: int, code: str | None, kind: type, words: str) -> None:
    descriptions = {"INVALID_REQUEST": "Https required"}
    error = classified(status, code, descriptions.get(code or "", ""), method="crm.deal.add")
    assert type(error) is kind
    assert words in str(error)
    assert error.status == status


def test_validation_shows_the_description() -> None:
    error = classified(400, "", "Parameter 'fields' must be array.", method="crm.contact.add")
    assert isinstance(error, FatalError)
    assert str(error) == (
        "Bitrix24 validation: crm.contact.add refused the data: Parameter 'fields' must be"
        " array. Fix the values the step maps"
    )


@pytest.mark.parametrize(
    ("method", "scope"),
    [("crm.deal.add", "crm"), ("user.get", "user"), ("tasks.task.add", "task"), (None, "crm")],
)
def test_insufficient_scope_names_the_scope(method: str | None, scope: str) -> None:
    assert scope_of(method) == scope
    error = classified(403, "insufficient_scope", "higher privileges", method=method)
    assert isinstance(error, AuthError)
    assert f"needs the '{scope}' scope" in str(error)
    assert "Developer resources" in str(error)
    oauth = classified(403, "insufficient_scope", "", method=method, oauth=True)
    assert "reinstall" in str(oauth)


def test_no_auth_found_with_oauth_points_at_the_application() -> None:
    error = classified(401, "NO_AUTH_FOUND", "Wrong authorization data", oauth=True)
    assert isinstance(error, AuthError)
    assert "webhook" not in str(error)


def test_unknown_4xx_is_fatal_and_unknown_401_is_auth() -> None:
    assert isinstance(classified(409, "SOMETHING_NEW", "conflict"), FatalError)
    assert isinstance(classified(401, "SOMETHING_NEW", "who?"), AuthError)


def test_an_error_body_with_200_is_still_an_error() -> None:
    error = classified(200, "invalid_grant", "Invalid refresh token")
    assert isinstance(error, AuthError)


def test_batch_entries_classify_like_answers() -> None:
    error = error_for(None, "", "Parameter 'fields' must be array.", method="crm.deal.add")
    assert isinstance(error, FatalError)
    assert "crm.deal.add refused the data" in str(error)
    limit = error_for(None, "QUERY_LIMIT_EXCEEDED", "Too many requests")
    assert isinstance(limit, RetriableError)
    scope = error_for(None, "insufficient_scope", "", method="tasks.task.add")
    assert isinstance(scope, AuthError)
    assert "'task' scope" in str(scope)


@pytest.mark.parametrize(
    ("method", "code", "description", "words"),
    [
        (
            "crm.item.list",
            "INVALID_ARG_VALUE",
            "Invalid filter: field 'x' is not allowed",
            "refused the data: Invalid filter",
        ),
        (
            "crm.timeline.comment.add",
            "100",
            "Required fields are missing: COMMENT",
            "refused the data: Required fields",
        ),
        (
            "crm.status.list",
            "Invalid parameters.",
            "Incorrect parameters passed.",
            "refused the data: Incorrect parameters passed",
        ),
        (
            "crm.timeline.comment.add",
            "NOT_FOUND",
            "The deal 7 is not found.",
            "may have been deleted in Bitrix24",
        ),
    ],
)
def test_method_level_codes_are_fatal_and_say_what_was_refused(
    method: str, code: str, description: str, words: str
) -> None:
    """Newer methods answer validation errors with a code of their own, not an empty one."""
    found = classified(400, code, description, method=method)
    assert isinstance(found, FatalError)
    assert found.code == code
    assert words in str(found)
