"""More journal pages under ``/ui``: events with filters, refused deliveries, channels, bundles
with pause and resume — everything the CLI shows, from the same data (``journal_views``,
``journal_refusals``, ``journal_channels``). The access rules are the middleware's of every
``/ui`` path (``ui_access``): the buttons post with the session's CSRF token, checked there."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from aiohttp import web

from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import _, localized
from jivocrm.journal.channels import channel_rows, deliveries, jivo_steps
from jivocrm.journal.refusals import UNKNOWN_ADVICE, refusal_detail, refused_list, shown_reason
from jivocrm.journal.views import bundle_rows, event_json

if TYPE_CHECKING:
    from jivocrm.engine.model import Project
    from jivocrm.store.base import Store

PAGE = 50
OUTCOMES = {"matched": True, "unmatched": False}


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Journal:
    """What the pages read: the store, the project as it is now, and how to wake the workers."""

    store: Store
    project: Project
    wake: Callable[[], None] | None = None


class Site(Protocol):
    """What the pages need of the journal site (``server.ui.UI``)."""

    environ: Mapping[str, str]

    def page(
        self, name: str, data: dict[str, Any], request: web.Request, *, status: int = 200
    ) -> web.Response: ...

    def journal(self, request: web.Request) -> Journal: ...

    def redact(self, journal: Journal, data: Any) -> Any: ...


class Pages:
    def __init__(self, ui: Site) -> None:
        self.ui = ui

    async def events(self, request: web.Request) -> web.Response:
        journal = self.ui.journal(request)
        query = {k: request.query.get(k, "").strip() for k in ("channel", "chat", "outcome")}
        offset = max(0, _int(request.query.get("offset"), 0))
        events = await journal.store.list_events(
            chat_id=query["chat"] or None,
            channel=query["channel"] or None,
            matched=OUTCOMES.get(query["outcome"]),
            limit=PAGE,
            offset=offset,
        )
        rows = []
        for event in events:
            detail = await journal.store.event_detail(event.id)
            rows.append(
                {
                    **event_json(event),
                    "runs": [
                        {"id": r.id, "bundle": r.bundle, "status": r.status}
                        for r in (detail.runs if detail else [])
                    ],
                    "not_matched": len(detail.not_matched) if detail else 0,
                }
            )
        kept = {k: v for k, v in query.items() if v}
        data = {
            "events": self.ui.redact(journal, rows),
            "query": query,
            "channels": list(journal.project.channels),
            "newer": urlencode({**kept, "offset": max(0, offset - PAGE)}) if offset else None,
            "older": urlencode({**kept, "offset": offset + PAGE}) if len(rows) == PAGE else None,
        }
        return self.ui.page("events.html", data, request)

    async def refused(self, request: web.Request) -> web.Response:
        journal = self.ui.journal(request)
        channel = request.query.get("channel", "").strip() or None
        offset = max(0, _int(request.query.get("offset"), 0))
        data = await refused_list(journal.store, channel=channel, limit=PAGE, offset=offset)
        for row in data["refused"]:
            row["reason"] = shown_reason(row["reason"])  # kept in English, read in any language
        view = self.ui.redact(journal, data)
        view.update(
            channel=channel or "",
            channels=list(journal.project.channels),
            unknown_advice=UNKNOWN_ADVICE,
            older=offset + PAGE if len(data["refused"]) == PAGE else None,
            newer=max(0, offset - PAGE) if offset else None,
        )
        return self.ui.page("refused.html", view, request)

    async def refusal(self, request: web.Request) -> web.Response:
        journal = self.ui.journal(request)
        try:
            data = await refusal_detail(
                journal.store, journal.project, _int(request.match_info["refusal_id"], -1)
            )
        except JivoCRMError as exc:
            raise web.HTTPNotFound(text=localized(exc.message)) from None
        data["reason"] = shown_reason(data["reason"])
        return self.ui.page("refusal.html", self.ui.redact(journal, data), request)

    async def channels(self, request: web.Request) -> web.Response:
        journal = self.ui.journal(request)
        seen = await deliveries(journal.store)
        rows = channel_rows(journal.project, seen, self.ui.environ, show_token=False)
        for row in rows:
            row["steps"] = jivo_steps(row["webhook_url"]) if row["last_event_at"] is None else []
            if row.get("last_refusal"):
                last = row["last_refusal"] = dict(row["last_refusal"])
                last["reason"] = shown_reason(str(last["reason"]))
        data = {
            "channels": self.ui.redact(journal, rows),
            "public_url_set": bool(journal.project.server.public_url),
            "unknown": sum(c.count for c in seen.unknown_tokens),
            "now": time.time(),
        }
        return self.ui.page("channels.html", data, request)

    async def bundles(self, request: web.Request, message: str | None = None) -> web.Response:
        journal = self.ui.journal(request)
        rows = await bundle_rows(journal.store, journal.project)
        data: dict[str, Any] = {"bundles": self.ui.redact(journal, rows), "message": message}
        return self.ui.page("bundles.html", data, request)

    async def hold(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()  # read (and its CSRF token checked) by the access rules
        journal = self.ui.journal(request)
        bundle = journal.project.bundle(request.match_info["name"])
        if bundle is None:
            raise web.HTTPNotFound(text=_("no such bundle in the project"))
        action = request.match_info["action"]
        if action == "pause":
            reason = str(form.get("reason", ""))[:200]
            who = f"the journal page ({request.remote or 'unknown'})"
            await journal.store.hold_bundle(bundle.name, by=who, reason=reason, at=time.time())
        else:
            await journal.store.release_bundle(bundle.name, requeue=bundle.enabled)
            if journal.wake is not None:
                journal.wake()  # the held runs are queued: claim them now
        raise web.HTTPSeeOther("/ui/bundles")


def add_pages(app: web.Application, ui: Site) -> None:
    pages = Pages(ui)
    app.router.add_get("/ui/events", pages.events)
    app.router.add_get("/ui/refused", pages.refused)
    app.router.add_get("/ui/refused/{refusal_id}", pages.refusal)
    app.router.add_get("/ui/channels", pages.channels)
    app.router.add_get("/ui/bundles", pages.bundles)
    app.router.add_post("/ui/bundles/{name}/{action:pause|resume}", pages.hold)


__all__ = ["add_pages"]
