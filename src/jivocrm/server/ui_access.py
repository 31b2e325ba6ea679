"""Who may use the journal pages, enforced by one middleware for every path under ``/ui``.

A page added under ``/ui`` gets all of this without a line of its own:

* **Host names.** Only loopback names, the host of ``server.public_url``, the address the daemon
  listens on and ``server.allowed_hosts``: a page fetched under another name (DNS rebinding,
  ``attacker.example`` resolving to 127.0.0.1) is refused before anything else.
* **Who.** A loopback client (no proxy headers) is trusted. Anyone else needs the admin token
  (``JIVOCRM_ADMIN_TOKEN``): as ``Authorization: Bearer``, or through the login form, which starts
  a session. ``server.trusted_proxies`` names reverse proxies whose ``X-Forwarded-For`` and
  ``X-Forwarded-Proto`` are believed; a request through any proxy is never "loopback".
* **Sessions** are signed cookies (an id, when it was issued, the signature), so several daemon
  instances behind one proxy share them and a restart keeps them: they end after
  ``SESSION_LIFETIME``, at logout (this instance also refuses the cookie from then on), or when
  the admin token changes. ``Secure`` whenever the browser came over https (directly, per a
  trusted proxy, or per an https ``public_url``).
* **CSRF.** A form that changes something carries its session's own token, and a browser's
  ``Origin`` (when sent) must be this site: ``null`` and other sites are refused.
* **Login attempts** are limited per client address.
* **The language switch** (``POST /ui/language``) is open like the login form: it sets only the
  reader's ``lang`` cookie, so it needs no session (the login page has it too) and no CSRF token;
  the host and ``Origin`` checks of every form still apply, and it sends back to ``/ui`` pages
  only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import structlog
from aiohttp import web

from jivocrm.core.i18n import _
from jivocrm.engine.model import ServerConfig

log = structlog.get_logger("jivocrm.ui")

TOKEN_ENV = "JIVOCRM_ADMIN_TOKEN"
COOKIE = "jivocrm_session"
SESSION_LIFETIME = 12 * 3600.0
LOGIN_ATTEMPTS = 5  # failed logins per client address within LOGIN_WINDOW
LOGIN_WINDOW = 900.0
TRACKED_CLIENTS = 10_000  # addresses whose failed logins are remembered, at most
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LANGUAGE_PATH = "/ui/language"
OPEN_PATHS = frozenset({"/ui/login", LANGUAGE_PATH})  # no session needed (still host-checked)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Session:
    id: str
    issued: float
    admin: bool  # signed in with the admin token (else a loopback visitor's session)
    csrf: str
    cookie: str | None = None  # set when the response must (re)send the cookie
    bearer: bool = False  # authorised by the Authorization header: no cookie, no CSRF needed


SESSION: web.RequestKey[Session] = web.RequestKey("jivocrm_ui_session", Session)


@dataclass(frozen=True)
class Client:
    address: str
    local: bool  # loopback, not through any proxy
    secure: bool  # the browser's side of the connection is https


def _ascii(text: str) -> bytes:
    # Header and form values may hold any character; compare_digest on str demands ASCII.
    return text.encode("utf-8", "surrogateescape")


def _host_name(host: str) -> str:
    """``Host`` without its port, lower case; IPv6 without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Access:
    def __init__(
        self, environ: Mapping[str, str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.environ = environ
        self.clock = clock
        self._process_key = secrets.token_bytes(32)
        self._revoked: dict[str, float] = {}  # session id → when it would have expired
        self._failures: dict[str, deque[float]] = {}

    # ---- the admin token and the signing key -------------------------------------------------
    def admin_token(self) -> str | None:
        return self.environ.get(TOKEN_ENV) or None

    def token_matches(self, offered: str) -> bool:
        token = self.admin_token()
        return token is not None and hmac.compare_digest(_ascii(offered), _ascii(token))

    def _key(self) -> bytes:
        token = self.admin_token()
        if token is None:  # loopback sessions only: they die with the process
            return self._process_key
        return hashlib.sha256(b"jivocrm-ui-session\0" + _ascii(token)).digest()

    def _mac(self, *parts: str) -> str:
        return hmac.new(self._key(), "\0".join(parts).encode(), hashlib.sha256).hexdigest()

    # ---- sessions ----------------------------------------------------------------------------
    def issue(self, admin: bool) -> Session:
        sid, issued = secrets.token_hex(16), int(self.clock())
        flag = "1" if admin else "0"
        cookie = f"{sid}.{issued}.{flag}.{self._mac('session', sid, str(issued), flag)}"
        return Session(sid, float(issued), admin, self._mac("csrf", sid), cookie)

    def read(self, cookie: str) -> Session | None:
        parts = cookie.split(".")
        if len(parts) != 4 or not parts[1].isdigit() or parts[2] not in ("0", "1"):
            return None
        sid, issued, flag, mac = parts
        if not hmac.compare_digest(_ascii(mac), _ascii(self._mac("session", sid, issued, flag))):
            return None
        if self.clock() - int(issued) > SESSION_LIFETIME or sid in self._revoked:
            return None
        return Session(sid, float(issued), flag == "1", self._mac("csrf", sid))

    def revoke(self, session: Session) -> None:
        now = self.clock()
        self._revoked = {k: v for k, v in self._revoked.items() if v > now}
        self._revoked[session.id] = session.issued + SESSION_LIFETIME

    def set_cookie(self, response: web.StreamResponse, session: Session, secure: bool) -> None:
        assert session.cookie is not None
        response.set_cookie(
            COOKIE,
            session.cookie,
            max_age=int(SESSION_LIFETIME),
            httponly=True,
            samesite="Strict",
            secure=secure,
            path="/ui",
        )

    # ---- the client --------------------------------------------------------------------------
    def client(self, request: web.Request, config: ServerConfig) -> Client:
        peer = request.remote or ""
        proxied = any(h in request.headers for h in PROXY_HEADERS)
        if proxied and _in(peer, config.trusted_proxies):
            hops = request.headers.get("X-Forwarded-For", "").split(",")
            address = hops[-1].strip() or peer
            https = request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"
            return Client(address, False, https or request.secure)
        local = not proxied and _loopback(peer)
        public_https = (config.public_url or "").lower().startswith("https://")
        return Client(peer, local, request.secure or (public_https and not local))

    def host_allowed(self, request: web.Request, config: ServerConfig) -> bool:
        name = _host_name(request.host or "")
        allowed = set(LOOPBACK_NAMES) | {h.lower() for h in config.allowed_hosts}
        if config.public_url:
            allowed.add((urlsplit(config.public_url).hostname or "").lower())
        if config.host not in ("0.0.0.0", "::", ""):
            allowed.add(config.host.lower())
        return name in allowed

    def origin_ok(self, request: web.Request) -> bool:
        """A browser's ``Origin``, when it sends one, must be this site (``null`` is not)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        parts = urlsplit(origin.strip())
        return bool(parts.scheme in ("http", "https") and parts.netloc) and (
            parts.netloc.lower() == (request.host or "").lower()
        )

    # ---- login attempts ----------------------------------------------------------------------
    def login_blocked(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None."""
        now = self.clock()
        tries = self._failures.get(address)
        while tries and now - tries[0] > LOGIN_WINDOW:
            tries.popleft()
        if not tries:
            self._failures.pop(address, None)
            return None
        if len(tries) < LOGIN_ATTEMPTS:
            return None
        return max(1.0, LOGIN_WINDOW - (now - tries[0]))

    def login_failed(self, address: str) -> None:
        if len(self._failures) >= TRACKED_CLIENTS and address not in self._failures:
            self._failures.pop(next(iter(self._failures)))  # the longest-known address
        self._failures.setdefault(address, deque(maxlen=LOGIN_ATTEMPTS)).append(self.clock())

    def login_succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    # ---- the middleware ----------------------------------------------------------------------
    def middleware(
        self,
        config_of: Callable[[web.Request], ServerConfig],
        denied: Callable[[web.Request, str], web.StreamResponse],
    ) -> Any:
        """The rules above for every request under ``/ui``; ``denied(request, reason)`` renders
        the page for a client that may not look (``loopback``: no admin token is set)."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path != "/ui" and not request.path.startswith("/ui/"):
                return await handler(request)
            config = config_of(request)
            if not self.host_allowed(request, config):
                log.warning("ui_host_refused", host=request.host, remote=request.remote)
                raise web.HTTPMisdirectedRequest(
                    text=_(
                        "this host name is not one of the daemon's; add it to"
                        " server.allowed_hosts, or use the address in server.public_url"
                    )
                )
            client = self.client(request, config)
            session = self._authorise(request, client)
            if session is None and request.path not in OPEN_PATHS:
                if self.admin_token() is None:
                    return denied(request, "loopback")
                if request.method in UNSAFE_METHODS:
                    raise web.HTTPUnauthorized(text=_("sign in first: /ui/login"))
                raise web.HTTPSeeOther("/ui/login?" + urlencode({"next": request.path_qs}))
            if request.method in UNSAFE_METHODS:
                await self._check_form(request, session, config)
            if session is not None:
                request[SESSION] = session
            response = await handler(request)
            if session is not None and session.cookie is not None:
                self.set_cookie(response, session, client.secure)
            return response

        return guard

    def _authorise(self, request: web.Request, client: Client) -> Session | None:
        found = self.read(request.cookies.get(COOKIE, ""))
        if found is not None and (found.admin or client.local):
            return found
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and self.token_matches(header[7:].strip()):
            return Session("bearer", self.clock(), True, "", bearer=True)
        if client.local:
            return self.issue(admin=False)  # a loopback visitor gets a session of its own
        return None

    async def _check_form(
        self, request: web.Request, session: Session | None, config: ServerConfig
    ) -> None:
        if not self.origin_ok(request):
            log.warning("ui_origin_refused", origin=request.headers.get("Origin"))
            raise web.HTTPForbidden(text=_("a form from another site is refused"))
        try:
            async with asyncio.timeout(config.body_timeout):
                form = await request.post()
        except TimeoutError:
            raise web.HTTPRequestTimeout(text=_("the form did not arrive in time")) from None
        except ValueError:
            raise web.HTTPBadRequest(text=_("the form could not be read")) from None
        if session is None or session.bearer or request.path in OPEN_PATHS:
            return  # the login form (no session yet), or a script with the token itself
        offered = str(form.get("csrf", ""))
        if session.cookie is not None or not hmac.compare_digest(
            _ascii(offered), _ascii(session.csrf)
        ):
            raise web.HTTPForbidden(text=_("stale or missing form token: reload the page"))


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _in(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


__all__ = ["COOKIE", "LANGUAGE_PATH", "SESSION", "TOKEN_ENV", "Access", "Client", "Session"]
