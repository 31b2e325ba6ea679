"""The journal as web pages under ``/ui``: runs with filters, a run, an event explained, replay.

Server-rendered Jinja2, no JavaScript: forms and links only, a page refreshes itself (meta
refresh) while its run is unfinished. The data and redaction are the CLI's (``journal_views``,
``redaction``), so both always show the same thing.

Access: loopback clients, or anyone presenting ``JIVOCRM_ADMIN_TOKEN`` (``Authorization: Bearer``,
or the cookie the login form sets). A request carrying proxy headers is not treated as local: a
reverse proxy on this host would otherwise make every internet client look like loopback. Replay
is a POST with a CSRF token, so another site cannot make a logged-in browser replay runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from jivocrm.engine.model import Project
from jivocrm.errors import JivoCRMError
from jivocrm.journal_replay import plan_replay
from jivocrm.journal_views import explanation, parse_when, run_data, run_json
from jivocrm.redaction import journal_redactor
from jivocrm.store.base import UNFINISHED, RunFilter, Store

COOKIE = "jivocrm_admin"
TOKEN_ENV = "JIVOCRM_ADMIN_TOKEN"
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
FILTERS = ("bundle", "status", "chat", "channel", "event", "since", "until")
PAGE = 50
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Journal:
    """What the pages read: the store, the project as it is now, and how to wake the workers."""

    store: Store
    project: Project
    wake: Callable[[], None] | None = None


def daemon_journal(app: web.Application) -> Journal:
    """The running daemon's store and current (reloaded) project."""
    from jivocrm.server.app import DAEMON

    daemon = app[DAEMON]
    return Journal(daemon.store, daemon.view.project, daemon.wake.set)


class UI:
    def __init__(
        self, source: Callable[[web.Application], Journal], environ: Mapping[str, str]
    ) -> None:
        self.source = source
        self.environ = environ
        self.secret = secrets.token_bytes(32)  # per process: CSRF tokens die with it
        self.csrf = hmac.new(self.secret, b"csrf", hashlib.sha256).hexdigest()
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("jivocrm.server", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters.update(when=_when, ms=_ms, pretty=_pretty)

    # ---- access ----------------------------------------------------------------------------
    def admin_token(self) -> str | None:
        return self.environ.get(TOKEN_ENV) or None

    def session_value(self, token: str) -> str:
        # The cookie carries a MAC of the token, never the token itself.
        return hmac.new(token.encode(), b"jivocrm-ui-session", hashlib.sha256).hexdigest()

    def allowed(self, request: web.Request) -> bool:
        if _loopback(request):
            return True
        token = self.admin_token()
        if token is None:
            return False
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if offered and hmac.compare_digest(offered, token):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.session_value(token))

    def guarded(self, handler: Handler) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            if not self.allowed(request):
                if self.admin_token() is None:
                    return self.page("denied.html", {"reason": "loopback"}, request, status=403)
                target = "/ui/login?" + urlencode({"next": request.path_qs})
                raise web.HTTPSeeOther(target)
            return await handler(request)

        return check

    def csrf_ok(self, form: Mapping[str, Any], request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin and origin not in (f"{request.scheme}://{request.host}", "null"):
            return False
        return hmac.compare_digest(str(form.get("csrf", "")), self.csrf)

    # ---- rendering -------------------------------------------------------------------------
    def page(
        self, name: str, data: dict[str, Any], request: web.Request, *, status: int = 200
    ) -> web.Response:
        html = self.templates.get_template(name).render(csrf=self.csrf, path=request.path, **data)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def journal(self, request: web.Request) -> Journal:
        return self.source(request.app)

    def redact(self, journal: Journal, data: Any) -> Any:
        return journal_redactor(journal.project, self.environ).value(data)

    # ---- pages -----------------------------------------------------------------------------
    async def runs(self, request: web.Request) -> web.Response:
        journal = self.journal(request)
        query = {k: request.query.get(k, "").strip() for k in FILTERS}
        offset = _int(request.query.get("offset"), 0)
        error, runs = None, []
        try:
            flt = RunFilter(
                bundle=query["bundle"] or None,
                status=query["status"] or None,
                chat_id=query["chat"] or None,
                channel=query["channel"] or None,
                event_name=query["event"] or None,
                since=parse_when(query["since"] or None),
                until=parse_when(query["until"] or None),
                limit=PAGE,
                offset=offset,
            )
            runs = [run_json(r) for r in await journal.store.list_runs(flt)]
        except JivoCRMError as exc:
            error = str(exc)
        kept = {k: v for k, v in query.items() if v}
        data = {
            "runs": self.redact(journal, runs),
            "query": query,
            "error": error,
            "bundles": [b.name for b in journal.project.bundles],
            "statuses": ["queued", "running", "paused", "succeeded", "failed"],
            "newer": urlencode({**kept, "offset": max(0, offset - PAGE)}) if offset else None,
            "older": urlencode({**kept, "offset": offset + PAGE}) if len(runs) == PAGE else None,
        }
        return self.page("runs.html", data, request, status=400 if error else 200)

    async def run(self, request: web.Request, message: str | None = None) -> web.Response:
        journal = self.journal(request)
        run_id = _int(request.match_info["run_id"], -1)
        try:
            data = await run_data(journal.store, journal.project, run_id)
        except JivoCRMError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        view = self.redact(journal, data)
        run = view["run"]
        view["message"] = message
        view["refresh"] = run["status"] in UNFINISHED
        view["bundle_now"] = journal.project.bundle(run["bundle"]) is not None
        return self.page("run.html", view, request, status=409 if message else 200)

    async def event(self, request: web.Request) -> web.Response:
        journal = self.journal(request)
        event_id = _int(request.match_info["event_id"], -1)
        try:
            data = await explanation(journal.store, journal.project, event_id)
        except JivoCRMError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        return self.page("event.html", self.redact(journal, data), request)

    async def replay(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if not self.csrf_ok(form, request):
            raise web.HTTPForbidden(text="stale or missing form token: reload the page")
        journal = self.journal(request)
        run = await journal.store.get_run(_int(request.match_info["run_id"], -1))
        if run is None:
            raise web.HTTPNotFound(text="no such run")
        plan = plan_replay(
            journal.project,
            run,
            from_start=form.get("from_start") == "on",
            config="current",
            force=form.get("force") == "on",
        )
        if plan.refused or plan.bundle is None:
            return await self.run(request, plan.refused or "the bundle is gone")
        new_id = await journal.store.replay(
            run.id, from_start=plan.from_start, version_hash=plan.bundle.version_hash
        )
        if journal.wake is not None:
            journal.wake()  # the workers claim it now rather than at their next poll
        raise web.HTTPSeeOther(f"/ui/runs/{new_id}")

    async def login_form(self, request: web.Request) -> web.Response:
        data = {"next": _local_path(request.query.get("next")), "failed": False}
        return self.page("login.html", data, request)

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = self.admin_token()
        offered = str(form.get("token", ""))
        target = _local_path(str(form.get("next", "")))
        if token is None or not hmac.compare_digest(offered, token):
            data = {"next": target, "failed": True}
            return self.page("login.html", data, request, status=401)
        answer = web.HTTPSeeOther(target)
        answer.set_cookie(
            COOKIE,
            self.session_value(token),
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            path="/ui",
        )
        raise answer


def setup_ui(
    app: web.Application,
    source: Callable[[web.Application], Journal] = daemon_journal,
    *,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Add the journal pages under ``/ui`` to ``app`` (by default, reading the daemon's state)."""
    ui = UI(source, os.environ if environ is None else environ)

    async def index(request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther("/ui/runs")

    app.router.add_get("/ui", ui.guarded(index))
    app.router.add_get("/ui/runs", ui.guarded(ui.runs))
    app.router.add_get("/ui/runs/{run_id}", ui.guarded(ui.run))
    app.router.add_post("/ui/runs/{run_id}/replay", ui.guarded(ui.replay))
    app.router.add_get("/ui/events/{event_id}", ui.guarded(ui.event))
    app.router.add_get("/ui/login", ui.login_form)
    app.router.add_post("/ui/login", ui.login)


def _loopback(request: web.Request) -> bool:
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _local_path(target: str | None) -> str:
    """Only a path of this site: ``next`` must not send a logged-in user elsewhere."""
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui/runs"


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "—"


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


__all__ = ["Journal", "daemon_journal", "setup_ui"]
