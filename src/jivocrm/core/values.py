"""What a value means where a bundle asks a yes or no (``when:``, a reply's conditions)."""

from __future__ import annotations

from typing import Any


def truthy(value: Any) -> bool:
    """``when:`` semantics: empty text, "false", "no", "0", null and empty collections are false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0", "none", "null")
    return bool(value)


__all__ = ["truthy"]
