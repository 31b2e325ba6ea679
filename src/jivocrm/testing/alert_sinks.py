"""Fake alert channels for tests: a webhook, the Telegram Bot API and an SMTP server, each on
loopback, recording what they receive. Never the real services.

``AlertSinks`` runs them in a thread of the test process (the daemon under test may be another
process)::

    with AlertSinks(bot_token="123:abc") as sinks:
        ...  # notify.webhook_url = sinks.webhook_url, telegram.api_url = sinks.telegram_url,
             # email.host/port = 127.0.0.1 / sinks.smtp_port
        sinks.telegram  # [{"chat_id": …, "text": …}, …]
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web

from jivocrm.testing.net import LoopThread, free_port


class _Mailbox:
    """The aiosmtpd handler: every message as an ``EmailMessage``."""

    def __init__(self, sink: list[EmailMessage]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.sink.append(message)
        return "250 OK"


class AlertSinks:
    def __init__(self, *, bot_token: str = "123456:test-bot-token") -> None:
        self.bot_token = bot_token
        self.webhook: list[dict[str, Any]] = []
        self.telegram: list[dict[str, Any]] = []
        self.mail: list[EmailMessage] = []
        self.smtp_port = free_port()
        self.http_port = 0
        self._loop = LoopThread("jivocrm-alert-sinks")
        self._runner: web.AppRunner | None = None
        self._smtp: Any = None

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/alert"

    @property
    def telegram_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def __enter__(self) -> AlertSinks:
        from aiosmtpd.controller import Controller

        self._smtp = Controller(_Mailbox(self.mail), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()
        self._runner = self._loop.start().run(self._serve())
        self.http_port = self._runner.addresses[0][1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            self._loop.run(self._runner.cleanup())
        self._loop.stop()
        self._smtp.stop()

    async def _serve(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/alert", self._webhook)
        app.router.add_post("/bot{token}/sendMessage", self._send_message)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    async def _webhook(self, request: web.Request) -> web.Response:
        self.webhook.append(await request.json())
        return web.json_response({"ok": True})

    async def _send_message(self, request: web.Request) -> web.Response:
        # The Bot API's own answers: 401 for a wrong token, 400 without a chat or a text.
        if request.match_info["token"] != self.bot_token:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        data = await request.json()
        if not data.get("chat_id") or not data.get("text"):
            body = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            return web.json_response(body, status=400)
        self.telegram.append(data)
        result = {"message_id": len(self.telegram), "chat": {"id": data["chat_id"]}}
        return web.json_response({"ok": True, "result": {**result, "text": data["text"]}})


__all__ = ["AlertSinks"]
