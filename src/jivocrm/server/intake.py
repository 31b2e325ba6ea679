"""``POST /jivo/{token}``: a Jivo webhook in, stored durably, answered.

Checks, in order, each with its own status:
token (404 that reveals nothing), size (413: raised by aiohttp and never swallowed into a 400),
a body that trickles in past ``server.body_timeout`` (408), UTF-8 and JSON (400 with a message; a
deeply nested body's ``RecursionError`` and the non-numbers NaN and Infinity are 400s too), the
shape of a Jivo event (400), the widget of the channel (403). Every refusal on a known channel
(and a 503 the store could not take) is recorded apart, within bounds, and an unknown token is
counted per remote address (``refusals.py``). Then the event, its runs and the explanations of
the bundles it does not run are stored in one transaction, and only then does Jivo get its
answer. Nothing here answers 500: a store that cannot commit is a 503.

The Content-Type is counted, not checked: Jivo's documentation does not say which one its
webhooks carry, so a JSON body is taken whatever its label, and what is not JSON is refused
whatever its label. Text that no store can hold (a lone surrogate, NUL) is replaced with U+FFFD
before anything reads it; the stored body is then the cleaned JSON (the dedup key is still the
received bytes').
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import time
from typing import Any

import structlog
from aiohttp import web

from jivocrm.core import fastjson, storable
from jivocrm.core.errors import StoreError
from jivocrm.core.i18n import Text
from jivocrm.engine.events import EventError, JivoEvent, parse_event
from jivocrm.engine.matching import Match, match
from jivocrm.engine.model import Channel
from jivocrm.engine.versions import versions_of
from jivocrm.journal import refusals as reasons
from jivocrm.server.refusals import error_of
from jivocrm.server.reply import REPLY_EVENTS, wait_replies
from jivocrm.server.state import Daemon, ProjectView
from jivocrm.store.base import Accepted, NewEvent, NewRun

log = structlog.get_logger("jivocrm.intake")

OK: dict[str, Any] = {"result": "ok"}
OK_BODY = json.dumps(OK).encode()


def find_channel(view: ProjectView, token: str) -> Channel | None:
    """The channel whose token equals ``token``, comparing with every token in constant time."""
    presented = token.encode()
    found = None
    for candidate, channel in view.tokens:
        # No early exit: the time taken does not tell which token (or how much of it) matched.
        if hmac.compare_digest(candidate, presented) and found is None:
            found = channel
    return found


def bad_request(message: str) -> web.Response:
    return web.json_response({"result": "error", "error": message}, status=400)


def dedup_key(channel: Channel, body: bytes) -> str:
    return hashlib.sha256(channel.name.encode() + b"\0" + body).hexdigest()


async def receive(daemon: Daemon, request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    view = daemon.view  # one snapshot for the whole request, whatever a reload does meanwhile
    channel = find_channel(view, request.match_info.get("token", ""))
    if channel is None:
        log.info("webhook_unknown_token", remote=request.remote)
        if daemon.refusals is not None:
            daemon.refusals.unknown_token(request.remote)
        raise web.HTTPNotFound()
    if not daemon.accepting:
        _refused(daemon, request, channel, 503, Text(reasons.STOPPING))
        return web.json_response({"result": "shutting down"}, status=503)
    daemon.metrics.content_type(request.headers.get("Content-Type"))
    try:
        async with asyncio.timeout(view.project.server.body_timeout):
            received = await request.read()
    except web.HTTPRequestEntityTooLarge:  # a 413, never swallowed into a 400
        limit = view.project.server.body_limit
        _refused(daemon, request, channel, 413, Text(reasons.TOO_LARGE, limit=limit))
        raise
    except TimeoutError:
        daemon.metrics.event(None, "malformed")
        log.info("webhook_body_timeout", remote=request.remote)
        timeout = view.project.server.body_timeout
        _refused(
            daemon, request, channel, 408, Text(reasons.TOO_SLOW, seconds=format(timeout, "g"))
        )
        raise web.HTTPRequestTimeout(text="the body did not arrive in time") from None
    parsed = _decode(received, view.project.region, view.project.unread_at_intake)
    if isinstance(parsed, web.Response):
        daemon.metrics.event(None, "malformed")
        _refused(daemon, request, channel, 400, error_of(parsed), received)
        return parsed
    event, body = parsed
    slog = log.bind(channel=channel.name, event_name=event.name, chat_id=event.chat_id)
    if event.widget_id is not None and event.widget_id != channel.widget_id:
        reason = Text(reasons.OTHER_WIDGET, widget=event.widget_id, channel=channel.name)
        daemon.metrics.event(None, "rejected")
        _refused(daemon, request, channel, 403, reason, body)
        slog.warning("webhook_rejected", reason=reason)
        return web.json_response({"result": "error", "error": reason}, status=403)

    matches = match(view.project, event, channel)
    runs = [m for m in matches if m.matched]
    new = NewEvent(
        channel=channel.name,
        name=event.name,
        dedup_key=dedup_key(channel, received),
        body=body,
        received_at=time.time(),
        status="accepted" if event.is_known else "ignored",
        chat_id=event.chat_id,
        widget_id=event.widget_id,
        runs=tuple(
            NewRun(m.bundle.name, m.lane or "", m.bundle.version_hash, m.paused) for m in runs
        ),
        not_matched=tuple((m.bundle.name, m.reason) for m in matches if not m.matched),
        versions=versions_of([m.bundle for m in runs]),
    )
    try:
        accepted = await daemon.store.accept(new)
    except StoreError as exc:
        slog.error("webhook_not_stored", error=str(exc))
        daemon.metrics.event(event.name, "store_failed")
        _refused(daemon, request, channel, 503, Text(reasons.NOT_STORED, error=exc), body)
        return web.json_response({"result": "error", "error": "cannot store the event"}, status=503)
    if daemon.notifier is not None:
        daemon.notifier.channel_delivered(channel.name)
    outcome = "duplicate" if accepted.duplicate else new.status
    daemon.metrics.event(event.name, outcome)
    slog.info(
        "webhook_received",
        event_id=accepted.event_id,
        runs=len(accepted.run_ids),
        duplicate=accepted.duplicate,
        outcome=outcome,
    )
    if accepted.run_ids:
        daemon.wake.set()
    reply = OK
    if event.name in REPLY_EVENTS:
        reply = await _reply(daemon, view, accepted, runs, slog)
    daemon.metrics.replied(event.name, time.perf_counter() - started)
    if reply is OK:  # the answer to most webhooks, encoded once
        return web.Response(body=OK_BODY, content_type="application/json", charset="utf-8")
    return web.json_response(reply)


class NotANumber(ValueError):
    """NaN or Infinity in a body: Python's json reads them, JSON has no such numbers."""


def _no_constant(name: str) -> float:
    raise NotANumber(Text(reasons.NOT_A_NUMBER, name=name))


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotANumber(Text(reasons.NUMBER_TOO_LARGE, text=text))
    return value


def _decode(
    body: bytes, region: str, skip: frozenset[str] = frozenset()
) -> tuple[JivoEvent, bytes] | web.Response:
    """The event and the body to store, or the 400 that says why there is none."""
    # orjson reads a well-formed body; whatever it refuses, the standard library reads or
    # refuses with the message the sender gets.
    done, payload = fastjson.loads_fast(body)
    if not done:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return bad_request(Text(reasons.NOT_UTF8, byte=exc.start))
        try:
            payload = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
        except NotANumber as exc:
            return bad_request(str(exc))
        except ValueError as exc:
            return bad_request(Text(reasons.NOT_JSON, error=exc))
        except RecursionError:
            return bad_request(Text(reasons.TOO_DEEP))
    if storable.may_hold_invalid(body):
        cleaned = storable.clean(payload)
        if cleaned is not payload:
            payload = cleaned
            body = json.dumps(cleaned, ensure_ascii=False).encode("utf-8")
    try:
        return parse_event(payload, region=region, skip=skip), body
    except EventError as exc:
        return bad_request(str(exc))
    except RecursionError:
        return bad_request(Text(reasons.TOO_DEEP))


async def _reply(
    daemon: Daemon,
    view: ProjectView,
    accepted: Accepted,
    matched: list[Match],
    slog: structlog.stdlib.BoundLogger,
) -> dict[str, Any]:
    if not accepted.duplicate:
        # Runs created paused (the file's enabled, or a runtime hold) give no reply now.
        ids = [
            i
            for i, m in zip(accepted.run_ids, matched, strict=True)
            if m.bundle.replies and i not in accepted.paused
        ]
    else:  # a redelivery: the stored runs of the first delivery, by their bundles now
        stored = await daemon.store.get_runs(accepted.run_ids)
        ids = [
            r.id
            for r in stored
            if (b := view.project.bundle(r.bundle)) is not None
            and b.replies
            and r.status != "paused"
        ]
    if not ids:
        return OK
    reply, complete = await wait_replies(
        daemon.store, daemon.waiters, ids, view.project.server.reply_timeout
    )
    if not complete:
        slog.info("reply_timed_out", runs=ids, timeout=view.project.server.reply_timeout)
    return reply


def _refused(
    daemon: Daemon,
    request: web.Request,
    channel: Channel,
    status: int,
    reason: str,
    body: bytes = b"",
) -> None:
    """What intake does with a refusal: record it (within bounds) and alert once."""
    if daemon.refusals is not None:
        daemon.refusals.refused(
            channel.name,
            status,
            reason,
            body,
            remote=request.remote,
            content_type=request.content_type,
        )
    if daemon.notifier is not None and daemon.accepting:
        daemon.notifier.channel_refused(
            channel.name, Text("{status} {reason}", status=status, reason=reason)
        )


__all__ = ["dedup_key", "find_channel", "receive"]
