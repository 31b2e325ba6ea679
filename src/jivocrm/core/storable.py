"""Text that every store, log and terminal can hold: invalid code points replaced, visibly.

JSON may carry ``"\\ud800"``: half of an emoji whose other half a client cut off. Python decodes
it to a string that no UTF-8 encoder accepts, so SQLite, a log line or a terminal refuses it
later, far from where it came in. PostgreSQL refuses NUL in text and jsonb. Both become U+FFFD,
the replacement character: the reader sees that something was lost, and where.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jivocrm.core import fastjson

REPLACEMENT = "\ufffd"
_INVALID = re.compile("[\ud800-\udfff\x00]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# What a JSON text holds when it decodes to an invalid string: a surrogate or NUL escape.
_ESCAPED = re.compile(r"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
_ESCAPED_BYTES = re.compile(_ESCAPED.pattern.encode())


def text(value: str) -> str:
    """``value`` with lone surrogates and NUL replaced (the same object when it has none)."""
    return _INVALID.sub(REPLACEMENT, value) if _INVALID.search(value) else value


def clean(value: Any) -> Any:
    """``value`` with every string (keys included) made storable; unchanged parts are kept as
    they are, and a value with nothing to replace comes back as the same object."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        items = [(clean(k) if isinstance(k, str) else k, clean(v)) for k, v in value.items()]
        if all(a is k and b is v for (a, b), (k, v) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, (list, tuple)):
        out = [clean(v) for v in value]
        return value if all(a is b for a, b in zip(out, value, strict=True)) else out
    return value


def may_hold_invalid(json_text: str | bytes) -> bool:
    """Whether decoding ``json_text`` may give strings that need ``clean`` (a cheap test)."""
    if isinstance(json_text, bytes):
        return _ESCAPED_BYTES.search(json_text) is not None
    return _ESCAPED.search(json_text) is not None


def loads(json_text: str | bytes) -> Any:
    """``json.loads``, with the result made storable."""
    data = fastjson.loads(json_text)
    return clean(data) if may_hold_invalid(json_text) else data


def _fallback(value: Any) -> str:
    """What ``dumps`` writes for a value JSON has no type for: its text, or at least its type."""
    try:
        return text(str(value))
    except Exception:  # a value whose str() raises (an undefined template value) is no reason
        return f"<{type(value).__name__}>"  # to lose the whole record


def dumps(value: Any) -> str:
    """JSON text (no ASCII escapes) that any store accepts. NUL needs no care here: JSON
    writes it as an escape."""
    fast = fastjson.dumps(value, _fallback)
    if fast is not None:
        return fast  # orjson refuses lone surrogates: what it wrote needs no cleaning
    out = json.dumps(value, ensure_ascii=False, default=_fallback)
    if _SURROGATE.search(out):
        out = json.dumps(clean(value), ensure_ascii=False, default=_fallback)
    return out


__all__ = ["REPLACEMENT", "clean", "dumps", "loads", "may_hold_invalid", "text"]
