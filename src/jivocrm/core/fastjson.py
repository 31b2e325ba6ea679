"""JSON through orjson where it is installed (a few times faster than the standard library on a
webhook body or a journal record), with exactly the standard library's results.

Where the two would differ, the standard library decides: orjson reads integers beyond 64 bits
as floats (Python keeps them exact), so such text goes to ``json``; whatever orjson
refuses (NaN, a lone surrogate escape, a byte-order mark) goes to ``json`` too, so the caller
sees the standard library's answer or error. Datetimes, dataclasses and subclasses of the basic
types are handed to ``default`` as ``json.dumps`` would hand them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:  # pragma: no cover - which branch runs depends on the installation
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

# Beyond 64 bits (below -2**63 or above 2**64 - 1) orjson gives a float: text with a run of
# 20 digits, or of 19 after a minus, goes to the standard library (a string with as many digits
# too: a false alarm only costs time). Digits become "0" and everything else but "-" a space,
# so two substring searches find such a run (a regular expression takes 100 times longer).
_DIGITS = bytes(
    b"0"[0] if chr(n).isdigit() and n < 128 else (n if n == ord("-") else ord(" "))
    for n in range(256)
)
_RUN, _NEGATIVE_RUN = b"0" * 20, b"-" + b"0" * 19


def _long_int(data: bytes) -> bool:
    digits = data.translate(_DIGITS)
    return _RUN in digits or _NEGATIVE_RUN in digits


_DUMP_OPTIONS = (
    (
        orjson.OPT_NON_STR_KEYS
        | orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    if orjson is not None
    else 0
)


def loads_fast(data: bytes) -> tuple[bool, Any]:
    """(True, the value) when orjson read ``data`` as ``json.loads`` would have; (False, None)
    when the standard library must read it (no orjson, a long integer, text orjson refuses)."""
    if orjson is None or _long_int(data):
        return False, None
    try:
        return True, orjson.loads(data)
    except orjson.JSONDecodeError:
        return False, None


def loads(data: bytes | str) -> Any:
    """``json.loads``, faster."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    done, value = loads_fast(raw)
    return value if done else json.loads(data)


def dumps(value: Any, default: Callable[[Any], Any]) -> str | None:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)``, or
    None when orjson cannot write it (a lone surrogate, an integer beyond 64 bits, no orjson):
    the caller then writes it with the standard library."""
    if orjson is None:
        return None
    try:
        return orjson.dumps(value, default=default, option=_DUMP_OPTIONS).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError
        return None


__all__ = ["dumps", "loads", "loads_fast"]
