"""The journal as web pages under ``/ui``: runs with filters, a run, an event explained, replay.

Server-rendered Jinja2, no JavaScript: forms and links only, a page refreshes itself (meta
refresh) while its run is unfinished. The data and redaction are the CLI's (``journal_views``,
``redaction``), so both always show the same thing.

Access (host names, loopback trust, the admin token, sessions, CSRF, login limits) is one
middleware for every path under ``/ui``, in ``ui_access``: a page added here gets it for free.
Every malformed input (an id past 64 bits, a token in any alphabet, an odd payload) is a 4xx or a
page that shows what the journal holds, never a 500.

Pages speak the reader's language (Jinja2's i18n extension over ``core.i18n``): the ``lang``
cookie the switch on every page sets, else the browser's ``Accept-Language``, else the project's
``language:``, else English. The request runs in that language, so the texts Python makes for the
page (a refusal's advice, an error) are in it too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from jivocrm.core import i18n
from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import _, localized
from jivocrm.engine.model import ServerConfig
from jivocrm.engine.versions import version_of
from jivocrm.journal.redaction import journal_redactor
from jivocrm.journal.replay import plan_replay
from jivocrm.journal.views import STATUSES, explanation, parse_when, run_data, run_json
from jivocrm.server.ui_access import COOKIE, LANGUAGE_PATH, SESSION, Access
from jivocrm.server.ui_pages import Journal, add_pages
from jivocrm.store.base import UNFINISHED, RunFilter

FILTERS = ("bundle", "status", "chat", "channel", "event", "since", "until")
PAGE = 50
MAX_ID = 2**63 - 1  # the stores' integer ids
MAX_OFFSET = 10**9
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LANG_COOKIE = "lang"
LANG_LIFETIME = 365 * 24 * 3600
# The switch on every page names each language in itself.
LANGUAGE_NAMES = {"ru": "Русский", "en": "English"}


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
        self.access = Access(environ)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("jivocrm.server", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
        )
        # The language of the request that renders, read from core.i18n's context variable.
        self.templates.install_gettext_callables(  # type: ignore[attr-defined]  # added by ext.i18n
            gettext=i18n._, ngettext=i18n.ngettext, newstyle=True
        )
        self.templates.filters.update(
            when=_when, ms=_ms, pretty=_pretty, localized=localized, status=_status
        )

    def language_of(self, request: web.Request) -> str:
        """The ``lang`` cookie, else ``Accept-Language``, else the project's, else English."""
        chosen = i18n.normalize(request.cookies.get(LANG_COOKIE))
        if chosen is None:
            chosen = i18n.from_accept_language(request.headers.get("Accept-Language"))
        if chosen is None:
            project = self.journal(request).project
            chosen = i18n.normalize(getattr(project, "language", None))
        return chosen or i18n.SOURCE

    def language_middleware(self) -> Any:
        @web.middleware
        async def speak(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path != "/ui" and not request.path.startswith("/ui/"):
                return await handler(request)
            with i18n.language(self.language_of(request)):
                return await handler(request)

        return speak

    def denied(self, request: web.Request, reason: str) -> web.StreamResponse:
        return self.page("denied.html", {"reason": reason}, request, status=403)

    # ---- rendering -------------------------------------------------------------------------
    def page(
        self, name: str, data: dict[str, Any], request: web.Request, *, status: int = 200
    ) -> web.Response:
        session = request.get(SESSION)
        csrf = session.csrf if session is not None else ""
        signed_in = session is not None and session.admin and not session.bearer
        html = self.templates.get_template(name).render(
            csrf=csrf,
            path=request.path,
            # Where the language switch sends back: a page a GET can show again.
            here=request.path_qs
            if request.method == "GET"
            else request.path.removesuffix("/replay"),
            signed_in=signed_in,
            lang=i18n.current(),
            languages=LANGUAGE_NAMES,
            **data,
        )
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def journal(self, request: web.Request) -> Journal:
        return self.source(request.app)

    def redact(self, journal: Journal, data: Any) -> Any:
        """``data`` for the page: its texts in the reader's language, then secrets masked."""
        return journal_redactor(journal.project, self.environ).value(_localized(data))

    # ---- pages -----------------------------------------------------------------------------
    async def runs(self, request: web.Request) -> web.Response:
        journal = self.journal(request)
        query = {k: request.query.get(k, "").strip() for k in FILTERS}
        offset = min(MAX_OFFSET, max(0, _int(request.query.get("offset"), 0)))
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
        run_id = _id(request.match_info["run_id"])
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
        event_id = _id(request.match_info["event_id"])
        try:
            data = await explanation(journal.store, journal.project, event_id)
        except JivoCRMError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        return self.page("event.html", self.redact(journal, data), request)

    async def replay(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()  # read (and its CSRF token checked) by the access rules
        journal = self.journal(request)
        run = await journal.store.get_run(_id(request.match_info["run_id"]))
        if run is None:
            raise web.HTTPNotFound(text=_("no such run"))
        plan = plan_replay(
            journal.project,
            run,
            from_start=form.get("from_start") == "on",
            config="current",
            force=form.get("force") == "on",
        )
        if plan.refused or plan.bundle is None:
            return await self.run(request, localized(plan.refused or _("the bundle is gone")))
        new_id = await journal.store.replay(
            run.id,
            from_start=plan.from_start,
            version_hash=plan.bundle.version_hash,
            version=version_of(plan.bundle),
        )
        if journal.wake is not None:
            journal.wake()  # the workers claim it now rather than at their next poll
        raise web.HTTPSeeOther(f"/ui/runs/{new_id}")

    async def login_form(self, request: web.Request) -> web.Response:
        data = {"next": _local_path(request.query.get("next")), "failed": False, "wait": None}
        return self.page("login.html", data, request)

    async def login(self, request: web.Request) -> web.StreamResponse:
        config = self.journal(request).project.server
        client = self.access.client(request, config)
        form = await request.post()
        target = _local_path(str(form.get("next", "")))
        wait = self.access.login_blocked(client.address)
        if wait is not None:
            data = {"next": target, "failed": False, "wait": int(wait)}
            answer = self.page("login.html", data, request, status=429)
            answer.headers["Retry-After"] = str(int(wait))
            return answer
        if self.access.admin_token() is None or not self.access.token_matches(
            str(form.get("token", ""))
        ):
            self.access.login_failed(client.address)
            data = {"next": target, "failed": True, "wait": None}
            return self.page("login.html", data, request, status=401)
        self.access.login_succeeded(client.address)
        answer = web.HTTPSeeOther(target)
        self.access.set_cookie(answer, self.access.issue(admin=True), client.secure)
        raise answer

    async def choose_language(self, request: web.Request) -> web.StreamResponse:
        """The switch: remember the language in the ``lang`` cookie and show the same page."""
        form = await request.post()
        chosen = i18n.normalize(str(form.get("lang", ""))) or i18n.SOURCE
        answer = web.HTTPSeeOther(_local_path(str(form.get("next", ""))))
        config = self.journal(request).project.server
        answer.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=LANG_LIFETIME,
            path="/ui",
            samesite="Lax",
            httponly=True,
            secure=self.access.client(request, config).secure,
        )
        raise answer

    async def logout(self, request: web.Request) -> web.StreamResponse:
        session = request.get(SESSION)
        if session is not None and not session.bearer:
            self.access.revoke(session)
        answer = web.HTTPSeeOther("/ui/login" if self.access.admin_token() else "/ui/runs")
        answer.del_cookie(COOKIE, path="/ui")
        raise answer


def setup_ui(
    app: web.Application,
    source: Callable[[web.Application], Journal] = daemon_journal,
    *,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Add the journal pages under ``/ui`` to ``app`` (by default, reading the daemon's state)."""
    ui = UI(source, os.environ if environ is None else environ)

    def config_of(request: web.Request) -> ServerConfig:
        return ui.journal(request).project.server  # the project of the moment (reloads)

    # Outermost: the access rules' own pages (denied, sign in) speak the reader's language too.
    app.middlewares.append(ui.language_middleware())
    app.middlewares.append(ui.access.middleware(config_of, ui.denied))

    async def index(request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther("/ui/runs")

    app.router.add_get("/ui", index)
    app.router.add_get("/ui/runs", ui.runs)
    app.router.add_get("/ui/runs/{run_id}", ui.run)
    app.router.add_post("/ui/runs/{run_id}/replay", ui.replay)
    app.router.add_get("/ui/events/{event_id}", ui.event)
    app.router.add_get("/ui/login", ui.login_form)
    app.router.add_post("/ui/login", ui.login)
    app.router.add_post("/ui/logout", ui.logout)
    app.router.add_post(LANGUAGE_PATH, ui.choose_language)
    add_pages(app, ui)  # events, refused deliveries, channels, bundles


def _local_path(target: str | None) -> str:
    """Only a path of this site: ``next`` must not send a logged-in user elsewhere."""
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui/runs"


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text and len(text) <= 20 else default
    except ValueError:
        return default


def _id(text: str) -> int:
    """A run or event id from the path; anything else is a 404 (the stores' ids are 64-bit)."""
    value = _int(text, -1)
    if not 1 <= value <= MAX_ID:
        raise web.HTTPNotFound(text=_("no such id in the journal"))
    return value


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "—"


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else _("{ms} ms").format(ms=f"{seconds * 1000:.0f}")


def _localized(data: Any) -> Any:
    """Every :class:`~jivocrm.core.i18n.Text` in ``data`` said in the current language."""
    if isinstance(data, i18n.Text):
        return data.localized()
    if isinstance(data, Mapping):
        return {k: _localized(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_localized(v) for v in data]
    return data


def _status(name: str | None) -> str:
    return _(STATUSES[name]) if name in STATUSES else str(name or "")


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


__all__ = ["Journal", "daemon_journal", "setup_ui"]
