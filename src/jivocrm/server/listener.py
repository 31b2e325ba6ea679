"""The daemon's TCP listener, with a deadline for a connection's first request headers.

aiohttp waits as long as a client likes for the headers of a connection's first request (its
keep-alive timer starts only after a response), so a client trickling a byte now and then
holds a connection forever ("slowloris"); a few hundred of them exhaust the process's file
descriptors. Here every accepted connection must have its first request's headers in within
``server.header_timeout`` or it is closed. Later requests on a kept-alive connection are
bounded by the keep-alive timeout, which aiohttp does enforce while it waits for headers; the
body has ``server.body_timeout`` where a handler reads it (intake, the /ui forms).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("jivocrm.server")

KEEPALIVE = 75.0  # seconds an idle kept-alive connection stays open (proxies reuse them)
# After answering a request whose body did not all arrive (a 408), aiohttp reads and drops the
# rest for this long, then closes (its default, 10 s, is ten slow connections' worth of time).
LINGER = 2.0


class Listener:
    """Connections still waiting for their first headers, and the site that times them out."""

    def __init__(self, header_timeout: float) -> None:
        self.header_timeout = header_timeout
        self._waiting: dict[int, Any] = {}  # id(protocol) → protocol, until headers arrive

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Headers complete: this connection is no longer on the clock."""
        self._waiting.pop(id(request.protocol), None)
        response: web.StreamResponse = await handler(request)
        return response

    def _expire(self, protocol: Any) -> None:
        if self._waiting.pop(id(protocol), None) is None:
            return  # a request arrived in time
        transport = protocol.transport
        if transport is not None and not transport.is_closing():
            log.info("connection_header_timeout", timeout=self.header_timeout)
            transport.close()

    def site(self, runner: web.AppRunner, host: str, port: int) -> web.BaseSite:
        return _Site(runner, host, port, self)


class _Site(web.BaseSite):
    """``web.TCPSite`` whose connections each get the header deadline as they are accepted."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, listener: Listener) -> None:
        super().__init__(runner)
        self._host, self._port, self._listener = host, port, listener

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        listener = self._listener

        def accepted() -> Any:
            protocol = server()
            listener._waiting[id(protocol)] = protocol
            loop.call_later(listener.header_timeout, listener._expire, protocol)
            return protocol

        self._server = await loop.create_server(
            accepted, self._host, self._port, backlog=self._backlog, reuse_address=True
        )


__all__ = ["KEEPALIVE", "LINGER", "Listener"]
