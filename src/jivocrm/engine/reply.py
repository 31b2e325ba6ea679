"""One answer to Jivo from the replies of several bundles that ran on the same event.

Jivo reads one body per webhook. When several bundles with a ``jivo_reply``
step run on one ``chat_accepted``, their replies merge: the first ``crm_link`` wins (bundles run
in project order, so the project decides), ``contact_info`` keys fill in from later replies
without overwriting, ``custom_data`` items are concatenated (Jivo shows the first ten), the first
``page`` wins, and ``enable_assign`` is true when any reply asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_CUSTOM_DATA = 10


def merge_replies(replies: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    merged: dict[str, Any] = {"result": "ok"}
    info: dict[str, Any] = {}
    items: list[Any] = []
    assign: bool | None = None
    for reply in replies:
        if not reply:
            continue
        if reply.get("crm_link") and "crm_link" not in merged:
            merged["crm_link"] = reply["crm_link"]
        if reply.get("page") and "page" not in merged:
            merged["page"] = reply["page"]
        for key, value in (reply.get("contact_info") or {}).items():
            if value not in (None, "") and key not in info:
                info[key] = value
        items.extend(reply.get("custom_data") or [])
        if "enable_assign" in reply:
            assign = bool(assign) or bool(reply["enable_assign"])
    if info:
        merged["contact_info"] = info
    if items:
        # Jivo shows at most ten custom_data fields.
        merged["custom_data"] = items[:MAX_CUSTOM_DATA]
    if assign is not None:
        merged["enable_assign"] = assign
    return merged


__all__ = ["merge_replies"]
