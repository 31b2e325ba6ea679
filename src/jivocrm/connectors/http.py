"""The one road from a connector to its CRM: rate limit, timeout, retries, classification, journal.

Each connector builds a ``Transport`` with its own ``classify`` function (the single place that
turns an HTTP answer into success or a ``ConnectorError`` subclass). Every call is recorded into
the ``CallLog`` of the step that runs it, with secrets replaced by ``***``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from jivocrm.connectors.ratelimit import RateLimiter
from jivocrm.core import fastjson
from jivocrm.core.errors import ConnectorError, RetriableError
from jivocrm.core.i18n import Text
from jivocrm.core.retry import IN_CALL, RetryPolicy

log = structlog.get_logger("jivocrm.http")

MAX_RECORDED_BODY = 16 * 1024


@dataclass
class CallRecord:
    """One HTTP exchange with a CRM, as the journal keeps it (secrets already redacted)."""

    method: str
    url: str
    status: int | None
    request: Any
    response: Any
    duration_ms: float
    attempt: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "request": self.request,
            "response": self.response,
            "duration_ms": round(self.duration_ms, 1),
            "attempt": self.attempt,
            "error": self.error,
        }


@dataclass
class CallLog:
    calls: list[CallRecord] = field(default_factory=list)


_current: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar(
    "jivocrm_calls", default=None
)


@contextlib.contextmanager
def recording() -> Iterator[CallLog]:
    """Collect the CRM calls made inside the block (one step's worth)."""
    calls = CallLog()
    token = _current.set(calls)
    try:
        yield calls
    finally:
        _current.reset(token)


def redact(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with every secret string replaced by ``***``, recursively."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret and len(secret) >= 4:
                value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    data: Any  # parsed JSON, or None for an empty or non-JSON body


Classify = Callable[[Response], ConnectorError | None]


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


class Transport:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        name: str,
        limiter: RateLimiter,
        classify: Classify,
        timeout: float = 10.0,
        retry: RetryPolicy = IN_CALL,
        secrets: Callable[[], Sequence[str]] = lambda: (),
        user_agent: str = "jivocrm",
    ) -> None:
        self.session = session
        self.name = name
        self.limiter = limiter
        self.classify = classify
        self.timeout = timeout
        self.retry = retry
        self.secrets = secrets
        self.user_agent = user_agent
        self.requests_sent = 0
        self.rate_limit_wait = 0.0
        self._unavailable = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        limited: bool = True,
    ) -> Response:
        """Send with retries of the retriable; raise the classified error when it is final."""

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hint = exc.retry_after if isinstance(exc, RetriableError) else None
            delay = self.retry.delay(state.attempt_number, hint)
            return delay if delay is not None else 0.0

        attempt = 0
        async for try_ in AsyncRetrying(
            retry=retry_if_exception_type(RetriableError),
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait,
            reraise=True,
        ):
            with try_:
                attempt += 1
                return await self._once(
                    method, url, json_body, params, headers, form, attempt, limited
                )
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _once(
        self,
        method: str,
        url: str,
        json_body: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        attempt: int,
        limited: bool,
    ) -> Response:
        if limited:
            self.rate_limit_wait += await self.limiter.acquire()
        all_headers = {"User-Agent": self.user_agent, **(headers or {})}
        started = time.perf_counter()
        record_url = url
        if params:
            query = "&".join(f"{k}={v}" for k, v in params.items())
            record_url = f"{url}?{query}"
        secrets = self.secrets()
        status: int | None = None
        response: Response | None = None
        error: ConnectorError | None = None
        try:
            self.requests_sent += 1
            async with self.session.request(
                method,
                url,
                json=json_body,
                params=params,
                data=form,
                headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                status = resp.status
                data: Any = None
                if body:
                    try:
                        data = fastjson.loads(body)
                    except ValueError:
                        data = None
                response = Response(resp.status, dict(resp.headers), body, data)
            error = self.classify(response)
            if isinstance(error, RetriableError) and error.retry_after is None:
                error.retry_after = _retry_after_header(response.headers)
        except TimeoutError:
            error = RetriableError(
                Text(
                    "{connection}: no answer within {seconds} s; the CRM is slow or unreachable"
                    " (raise `timeout` on the connection if this is normal for it)",
                    connection=self.name,
                    seconds=format(self.timeout, "g"),
                )
            )
        except aiohttp.ClientError as exc:
            error = RetriableError(
                Text(
                    "{connection}: cannot reach the CRM: {reason}",
                    connection=self.name,
                    reason=redact(str(exc), secrets),
                )
            )
        # Again after the answer: it may have issued new secrets (a refreshed token pair).
        secrets = [*secrets, *self.secrets()]
        duration = (time.perf_counter() - started) * 1000
        if isinstance(error, RetriableError) and error.retry_after:
            self.limiter.block_for(error.retry_after)
        self._record(
            CallRecord(
                method=method,
                url=redact(record_url, secrets),
                status=status,
                request=redact(json_body if json_body is not None else form, secrets),
                response=redact(_shown_body(response), secrets),
                duration_ms=duration,
                attempt=attempt,
                error=redact(str(error), secrets) if error else None,
            )
        )
        self._note_availability(error)
        if error is not None:
            raise error
        assert response is not None
        return response

    def _record(self, record: CallRecord) -> None:
        calls = _current.get()
        if calls is not None:
            calls.calls.append(record)

    def _note_availability(self, error: ConnectorError | None) -> None:
        # Log "unavailable" once and "recovered" once, not on every failed call.
        down = isinstance(error, RetriableError) and (error.status is None or error.status >= 500)
        if down and not self._unavailable:
            self._unavailable = True
            log.warning("connection_unavailable", connection=self.name, error=str(error))
        elif not down and self._unavailable and error is None:
            self._unavailable = False
            log.info("connection_recovered", connection=self.name)


def _shown_body(response: Response | None) -> Any:
    if response is None:
        return None
    if response.data is not None:
        if len(response.body) * 4 <= MAX_RECORDED_BODY:
            return response.data  # a short body: written out again it stays under the limit
        text = json.dumps(response.data, ensure_ascii=False)
        if len(text) <= MAX_RECORDED_BODY:
            return response.data
        return text[:MAX_RECORDED_BODY] + "…"
    if not response.body:
        return None
    return response.body[:MAX_RECORDED_BODY].decode("utf-8", "replace")
