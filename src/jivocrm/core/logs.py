"""structlog set-up for the daemon: JSON lines when not on a terminal, console on a terminal, and a
redaction processor that keeps secrets (and, on request, phones and e-mails) out of every line.

The redactor knows secret *values*, not key names: channel tokens and connector secrets arrive
resolved from the environment, and may show up anywhere (a URL in an error text, a header).
It also replaces text no terminal or file can take (a lone surrogate) with U+FFFD.

Repeated identical warnings and errors (``claim_failed`` while the disk is full, twice a
second) are rate-limited by ``Repeats``: the first is logged, the same line again within
``REPEAT_WINDOW`` is counted, and the first one after the window carries ``repeated=N``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from jivocrm.core import fastjson, storable

MASK = "***"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# International or local numbers with separators: 10+ digits overall, as phones are written.
PHONE = re.compile(r"(?<![\w.])\+?\d[\d\s().-]{8,}\d(?![\w.])")
MIN_SECRET = 4  # shorter values would mask ordinary words
REPEAT_WINDOW = 60.0  # seconds
REPEAT_KEYS = 1000  # distinct lines remembered, at most
LIMITED_LEVELS = frozenset({"warning", "warn", "error", "critical", "exception"})


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
        original = value
        value = storable.text(value)
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        if self.personal:
            value = EMAIL.sub(MASK, value)
            value = PHONE.sub(MASK, value)
        # Nothing hidden: the very object, so a sentence kept for the reader's language stays one.
        return original if value == original else value

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


class Repeats:
    """A structlog processor: the same warning or error (every field alike) at most once per
    ``window`` seconds; the next one after that says how many were left out."""

    def __init__(
        self, window: float = REPEAT_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.clock = clock
        self._seen: dict[str, tuple[float, int]] = {}  # line → (when logged, left out since)

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        if method not in LIMITED_LEVELS:
            return event
        key = method + repr(sorted((str(k), repr(v)) for k, v in event.items()))
        now = self.clock()
        logged = self._seen.get(key)
        if logged is not None and now - logged[0] < self.window:
            self._seen[key] = (logged[0], logged[1] + 1)
            raise structlog.DropEvent
        if len(self._seen) >= REPEAT_KEYS and key not in self._seen:
            self._seen.pop(next(iter(self._seen)))
        self._seen[key] = (now, 0)
        if logged is not None and logged[1]:
            return {**event, "repeated": logged[1]}
        return event


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
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=True)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        Repeats(),
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


def _json_line(event: EventDict, **options: Any) -> str:
    """One log line's JSON (orjson where installed; the redactor made every text writable);
    ``default`` is structlog's, for values JSON has no type for."""
    default = options.get("default", repr)
    fast = fastjson.dumps(event, default)
    return fast if fast is not None else json.dumps(event, ensure_ascii=False, default=default)


def _noop(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    return event


__all__ = ["Redactor", "Repeats", "configure"]
