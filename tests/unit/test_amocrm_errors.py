"""Every amoCRM answer is classified once, with a message that says what to do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jivocrm.connectors.amocrm.errors import classify
from jivocrm.connectors.http import Response
from jivocrm.core.errors import AuthError, FatalError, RetriableError

# amoCRM's documented error bodies (the team's api/samples), inline so the tests stand alone.
SAMPLES: dict[str, Any] = {
    "amo_error_400.json": {
        "validation-errors": [
            {
                "request_id": "0",
                "errors": [
                    {
                        "code": "NotSupportedChoice",
                        "path": "status_id",
                        "detail": "The value you selected is not a valid choice.",
                    },
                    {
                        "code": "InvalidType",
                        "path": "_embedded.contacts.0.id",
                        "detail": "This value should be of type int.",
                    },
                ],
            }
        ],
        "title": "Bad Request",
        "type": "https://httpstatus.es/400",
        "status": 400,
        "detail": "Request validation failed",
    },
    "amo_error_401.json": {
        "title": "Unauthorized",
        "type": "https://httpstatus.es/401",
        "status": 401,
        "detail": "Неверный логин или пароль",
    },
    "amo_error_402.json": {
        "title": "Payment Required",
        "type": "https://httpstatus.es/402",
        "status": 402,
        "detail": "Payment required",
    },
    "amo_error_429.json": {
        "title": "Too Many Requests",
        "type": "https://httpstatus.es/429",
        "status": 429,
        "detail": "You have sent too many requests in a given amount of time.",
        "retry_after": 300,
    },
    "amo_oauth_error.json": {
        "hint": "Token has been revoked",
        "title": "Некорректный запрос",
        "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
        "status": 400,
        "detail": "В запросе отсутствует ряд параметров или параметры невалидны",
    },
}


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    raw = json.dumps(body).encode() if body is not None else b""
    return Response(status, headers or {}, raw, body)


def sample(name: str) -> Any:
    return SAMPLES[name]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_success_is_not_an_error(status: int) -> None:
    assert classify(answer(status)) is None


def test_401_says_token_expired_and_what_to_do() -> None:
    error = classify(answer(401, sample("amo_error_401.json")))
    assert isinstance(error, AuthError)
    assert "token expired or revoked" in str(error)
    assert "long-lived token" in str(error)
    assert "authorization_code" in str(error)


def test_402_says_renew_the_subscription() -> None:
    error = classify(answer(402, sample("amo_error_402.json")))
    assert isinstance(error, AuthError)
    assert "not paid" in str(error)
    assert "renew the subscription" in str(error)


def test_403_on_users_says_not_an_administrator() -> None:
    error = classify(answer(403, {"title": "Forbidden", "status": 403}), endpoint="users")
    assert isinstance(error, AuthError)
    assert "not an administrator" in str(error)
    assert "as an account administrator" in str(error)


def test_other_403_explains_the_block() -> None:
    error = classify(answer(403, {"title": "Forbidden", "status": 403, "detail": "Blocked"}))
    assert isinstance(error, AuthError)
    assert "blocked after repeated 429" in str(error)
    assert "rate_limit.rate" in str(error)


def test_403_plain_text_body_is_shown() -> None:
    error = classify(Response(403, {}, b"403 Forbidden", None))
    assert isinstance(error, AuthError)
    assert "403 Forbidden" in str(error)


def test_400_validation_lists_every_field_path() -> None:
    error = classify(answer(400, sample("amo_error_400.json")))
    assert isinstance(error, FatalError)
    text = str(error)
    assert "status_id: The value you selected is not a valid choice. (NotSupportedChoice)" in text
    assert "_embedded.contacts.0.id: This value should be of type int." in text
    assert error.code == "validation"


def test_400_oauth_hint_asks_to_reauthorize() -> None:
    error = classify(answer(400, sample("amo_oauth_error.json")))
    assert isinstance(error, AuthError)
    assert "Token has been revoked" in str(error)
    assert "re-authorize" in str(error)


def test_400_blank_request_is_fatal() -> None:
    body = {"title": "Bad Request", "status": 400, "detail": "Request data cannot be blank"}
    error = classify(answer(400, body))
    assert isinstance(error, FatalError)
    assert "Request data cannot be blank" in str(error)


def test_404_points_at_the_address() -> None:
    error = classify(answer(404, {"title": "Not Found", "status": 404, "detail": "Not found"}))
    assert isinstance(error, FatalError)
    assert "subdomain" in str(error)


def test_422_mentions_the_batch_limit() -> None:
    error = classify(answer(422, {"title": "Unprocessable Entity", "detail": "limit 250"}))
    assert isinstance(error, FatalError)
    assert "250" in str(error)


def test_429_is_retriable_with_the_body_hint() -> None:
    error = classify(answer(429, sample("amo_error_429.json")))
    assert isinstance(error, RetriableError)
    assert error.retry_after == 300
    assert "too many requests" in str(error)


def test_429_without_body_hint_leaves_the_header_to_the_transport() -> None:
    error = classify(Response(429, {"Retry-After": "3"}, b"Too Many Requests", None))
    assert isinstance(error, RetriableError)
    assert error.retry_after is None  # the transport reads Retry-After when the body has none


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retriable(status: int) -> None:
    error = classify(answer(status, {"title": "ErrInternalServer", "status": status}))
    assert isinstance(error, RetriableError)
    assert error.status == status


def test_redirect_points_at_subdomain_and_domain() -> None:
    error = classify(Response(301, {"Location": "https://www.amocrm.ru/"}, b"", None))
    assert isinstance(error, FatalError)
    assert "www.amocrm.ru" in str(error)
    assert "kommo.com" in str(error)
