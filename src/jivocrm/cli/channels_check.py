"""``jivocrm channels check``: the Jivo side of the set-up, diagnosed.

For each channel: the webhook URL as Jivo must see it (``server.public_url`` + ``/jivo/<token>``),
whether that URL is https and reaches THIS daemon (its ``/healthz`` through the public URL answers
with the same instance id as the daemon at the local address), when Jivo last delivered and the
last refusal — and, for a channel that never delivered, what to do in Jivo, in Jivo's own words.
Exit 1 when anything needs doing, so a deployment script can stop on it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import OK, USER_ERROR, echo_json
from jivocrm.core.i18n import Text, _, localized
from jivocrm.engine.addresses import local_address, public_address
from jivocrm.journal.channels import channel_rows, jivo_steps

PATIENCE = 5.0  # seconds for each /healthz probe


@dataclass(frozen=True)
class Probe:
    status: int | None
    instance: str | None
    error: str | None = None


async def probe(session: aiohttp.ClientSession, url: str) -> Probe:
    try:
        async with session.get(f"{url}/healthz", allow_redirects=False) as answer:
            try:
                body: Any = await answer.json(content_type=None)
            except ValueError:
                body = None
            instance = body.get("instance") if isinstance(body, dict) else None
            return Probe(answer.status, instance if isinstance(instance, str) else None)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        return Probe(None, None, str(exc) or type(exc).__name__)


async def reachability(public: str, local: str | None) -> dict[str, Any]:
    """Whether ``public`` reaches the daemon that answers at ``local``."""
    timeout = aiohttp.ClientTimeout(total=PATIENCE)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        outside = await probe(session, public)
        here = await probe(session, local) if local and local != public else outside
    if outside.status is None:
        said = Text("no answer from {url}/healthz: {error}", url=public, error=outside.error)
        return {"ok": False, "text": said}
    if outside.status != 200 or outside.instance is None:
        return {
            "ok": False,
            "text": Text(
                "{url}/healthz answers {status}, but not as jivocrm: the address"
                " leads elsewhere (check the proxy or DNS)",
                url=public,
                status=outside.status,
            ),
        }
    if here.instance is None:
        return {
            "ok": True,
            "text": Text(
                "{url} answers a jivocrm daemon; none answers at {local}, so whether it"
                " is this project's cannot be told from here",
                url=public,
                local=local,
            ),
        }
    if here.instance != outside.instance:
        return {
            "ok": False,
            "text": Text(
                "{url} answers another jivocrm daemon than the one at {local}",
                url=public,
                local=local,
            ),
        }
    return {"ok": True, "text": Text("{url} answers this daemon", url=public)}


def problems_of(row: dict[str, Any], public_set: bool, https: bool, reach: dict[str, Any]) -> int:
    bad = int(not public_set) + int(not https) + int(not reach["ok"])
    return bad + int(row["last_event_at"] is None) + int(not row["bundles"])


def check(project_path: Path, show_token: bool, fmt: str) -> int:
    project = fmt_.with_channels(project_path)
    environ = project.environ
    seen = asyncio.run(fmt_.last_events(project))
    rows = channel_rows(project, seen, environ, show_token)
    public = public_address(project, environ)
    public_set = bool(project.server.public_url) and public != local_address(project)
    https = urlsplit(public).scheme == "https"
    reach = asyncio.run(reachability(public, local_address(project)))
    bad = 0
    for row in rows:
        row["https"] = https
        row["reaches_this_daemon"] = reach
        row["steps"] = jivo_steps(row["webhook_url"]) if row["last_event_at"] is None else []
        bad += problems_of(row, public_set, https, reach)
    if fmt == "json":
        echo_json({"public_url": public, "public_url_set": public_set, "channels": rows})
        return USER_ERROR if bad else OK
    out = fmt_.console()
    now = time.time()
    if not public_set:
        out.print(
            "✗ "
            + _(
                "server.public_url is not set: Jivo cannot post to a local address. Set it to the"
                " https address Jivo reaches this daemon at (a reverse proxy or tunnel)."
            ),
            markup=False,
        )
    for row in rows:
        for line in _channel_lines(row, https, reach, now):
            out.print(line, markup=False, soft_wrap=True)
    out.print(
        _("Everything is in place.")
        if not bad
        else _("{count} thing(s) to do, above.").format(count=bad)
    )
    return USER_ERROR if bad else OK


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _channel_lines(
    row: dict[str, Any], https: bool, reach: dict[str, Any], now: float
) -> list[str]:
    secure = "https" if https else _("not https: the token travels in the clear; put TLS in front")
    lines = [
        "",
        _("channel {name} (widget {widget})").format(name=row["channel"], widget=row["widget_id"]),
        "  " + _("webhook URL for Jivo: {url}").format(url=row["webhook_url"]),
        f"  {_mark(https)} {secure}",
        f"  {_mark(reach['ok'])} {localized(reach['text'])}",
    ]
    if row["bundles"]:
        served = ", ".join(row["bundles"])
        lines.append("  ✓ " + _("bundles serving it: {bundles}").format(bundles=served))
    else:
        lines.append("  ✗ " + _("no bundle serves it: its events are stored and do nothing"))
    last = row["last_event_at"]
    when = f"{fmt_.ago(last, now)} ({fmt_.when(last)})" if last else _("never")
    lines.append(
        f"  {_mark(last is not None)} " + _("last delivery from Jivo: {when}").format(when=when)
    )
    refusal = row["last_refusal"]
    if refusal:
        lines.append(
            "  ! "
            + _(
                "{count} refused; the last {ago}: {status} {reason}"
                " (`jivocrm events explain --refused {id}` says what to change)"
            ).format(
                count=row["refused"],
                ago=fmt_.ago(refusal["received_at"], now),
                status=refusal["status"],
                reason=localized(refusal["reason"]),
                id=refusal["id"],
            )
        )
    for number, step in enumerate(row["steps"], 1):
        lines.append(f"  {number}. {localized(step)}")
    return lines


__all__ = ["check", "reachability"]
