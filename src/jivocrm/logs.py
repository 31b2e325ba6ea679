"""structlog set-up for the daemon: JSON lines when not on a terminal, console on a terminal, and a
redaction processor that keeps secrets (and, on request, phones and e-mails) out of every line.

The redactor knows secret *values*, not key names: channel tokens and connector secrets arrive
resolved from the environment, and may show up anywhere (a URL in an error text, a header).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

MASK = "***"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# International or local numbers with separators: 10+ digits overall, as phones are written.
PHONE = re.compile(r"(?<![\w.])\+?\d[\d\s().-]{8,}\d(?![\w.])")
MIN_SECRET = 4  # shorter values would mask ordinary words


class Redactor:
    """A structlog processor; ``update`` swaps what it hides (on reload) without reconfiguring."""

    def __init__(self, secrets: Iterable[str] = (), personal: bool = False) -> None:
        self.secrets: tuple[str, ...] = ()
        self.personal = personal
        self.update(secrets, personal)

    def update(self, secrets: Iterable[str], personal: bool) -> None:
        # Longest first, so a secret containing another is masked whole.
        found = {s for s in secrets if s and len(s) >= MIN_SECRET}
        self.secrets = tuple(sorted(found, key=len, reverse=True))
        self.personal = personal

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        if self.personal:
            value = EMAIL.sub(MASK, value)
            value = PHONE.sub(MASK, value)
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        if isinstance(value, BaseException):
            return self.text(f"{type(value).__name__}: {value}")
        return value

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        return {k: self.value(v) for k, v in event.items()}


def configure(
    redactor: Redactor | None = None,
    *,
    level: str = "info",
    stream: TextIO | None = None,
    json_output: bool | None = None,
) -> Redactor:
    """Configure structlog for the process; returns the redactor in use."""
    redactor = redactor or Redactor()
    out = stream or sys.stderr
    if json_output is None:
        json_output = not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=True)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before redaction, so a secret in an exception is masked too.
        structlog.processors.format_exc_info if json_output else _noop,
        redactor,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    return redactor


def _noop(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    return event


__all__ = ["Redactor", "configure"]
