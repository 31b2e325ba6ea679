"""Where alert messages go: a webhook (JSON POST), e-mail (SMTP through aiosmtplib) and a
Telegram bot chat (the Bot API's ``sendMessage``). Each sender raises ``AlertNotSent`` with a
reason a person can act on; the notifier logs it and carries on with the other channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import aiohttp
import aiosmtplib

from jivocrm.core.i18n import Text
from jivocrm.engine.envvars import resolve
from jivocrm.engine.model import NotifyConfig
from jivocrm.server.alerts import Message

TELEGRAM_API = "https://api.telegram.org"
TELEGRAM_LIMIT = 4096  # characters the Bot API takes in one message


class AlertNotSent(Exception):
    pass


class Sender(Protocol):
    name: str

    async def send(self, message: Message) -> None: ...


@dataclass
class WebhookSender:
    session: aiohttp.ClientSession
    url: str
    timeout: float
    name: str = "webhook"

    async def send(self, message: Message) -> None:
        body = {**message.data, "title": message.title, "text": message.text}
        try:
            async with self.session.post(
                self.url, json=body, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                if resp.status >= 300:
                    raise AlertNotSent(Text("the webhook answered {status}", status=resp.status))
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise AlertNotSent(Text("the webhook is unreachable: {reason}", reason=reason)) from exc


@dataclass
class TelegramSender:
    session: aiohttp.ClientSession
    bot_token: str
    chat_id: str
    timeout: float
    api_url: str = TELEGRAM_API
    name: str = "telegram"

    async def send(self, message: Message) -> None:
        text = f"{message.shown_title}\n\n{message.shown_text}"
        if len(text) > TELEGRAM_LIMIT:
            text = text[: TELEGRAM_LIMIT - 1] + "…"
        url = f"{self.api_url.rstrip('/')}/bot{self.bot_token}/sendMessage"
        body = {"chat_id": self.chat_id, "text": text, "disable_web_page_preview": True}
        try:
            async with self.session.post(
                url, json=body, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                answer: Any = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise AlertNotSent(
                Text("the Telegram Bot API is unreachable: {reason}", reason=exc)
            ) from exc
        if not isinstance(answer, dict) or not answer.get("ok"):
            said = answer.get("description") if isinstance(answer, dict) else None
            hint = {
                401: Text("; check notify.telegram.bot_token (from @BotFather)"),
                400: Text("; check notify.telegram.chat_id and that the bot was added to the chat"),
                403: Text("; the bot was removed from the chat or blocked: add it again"),
            }.get(resp.status, "")
            raise AlertNotSent(
                Text(
                    "Telegram refused the message ({status}: {said}){hint}",
                    status=resp.status,
                    said=said,
                    hint=hint,
                )
            )


@dataclass
class EmailSender:
    host: str
    port: int
    security: str  # starttls | tls | none
    sender: str
    to: Sequence[str]
    timeout: float
    username: str | None = None
    password: str | None = None
    name: str = "email"

    async def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.shown_title
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.to)
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = make_msgid(domain="jivocrm")
        mail.set_content(message.shown_text)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise AlertNotSent(
                Text(
                    "the SMTP server refused the login ({code}): check notify.email.username"
                    " and password",
                    code=exc.code,
                )
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise AlertNotSent(
                Text(
                    "e-mail to {host}:{port} failed: {reason}",
                    host=self.host,
                    port=self.port,
                    reason=exc,
                )
            ) from exc


def resolved_targets(notify: NotifyConfig, environ: Mapping[str, str]) -> dict[str, Any]:
    """The alert channels the project names, ``${VAR}`` resolved (``MissingVariable`` if not)."""
    written = {
        "webhook_url": notify.webhook_url,
        "email": notify.email,
        "telegram": notify.telegram,
    }
    found: dict[str, Any] = resolve({k: v for k, v in written.items() if v}, environ)
    return found


def senders(
    session: aiohttp.ClientSession, targets: Mapping[str, Any], timeout: float
) -> list[Sender]:
    """The senders for the resolved ``notify`` targets (``build_view`` resolves ``${VAR}``)."""
    found: list[Sender] = []
    if targets.get("webhook_url"):
        found.append(WebhookSender(session, targets["webhook_url"], timeout))
    email = targets.get("email")
    if email:
        to = email["to"] if isinstance(email["to"], list) else [email["to"]]
        security = email.get("security", "starttls")
        default_port = {"tls": 465, "starttls": 587}.get(security, 25)
        found.append(
            EmailSender(
                host=email["host"],
                port=int(email.get("port", default_port)),
                security=security,
                sender=email["from"],
                to=[str(t) for t in to],
                timeout=timeout,
                username=email.get("username"),
                password=email.get("password"),
            )
        )
    telegram = targets.get("telegram")
    if telegram:
        found.append(
            TelegramSender(
                session,
                telegram["bot_token"],
                str(telegram["chat_id"]),
                timeout,
                telegram.get("api_url", TELEGRAM_API),
            )
        )
    return found


__all__ = [
    "AlertNotSent",
    "EmailSender",
    "Sender",
    "TelegramSender",
    "WebhookSender",
    "resolved_targets",
    "senders",
]
