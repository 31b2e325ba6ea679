"""Refused deliveries as data, shared by the CLI (``events list --refused``, ``events explain
--refused``) and the web page: each with what to change so the next delivery is accepted.
Excerpts were redacted when they were recorded; whoever shows them redacts again for the viewer.

The journal keeps a refusal's reason in English (Jivo's answer carries the same text); a person
reads it in their language through ``shown_reason``, which finds the reason's sentence among
``REASONS`` and says it again with its values. The advice is made when it is shown.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import string
from typing import Any

from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import N_, Text, _
from jivocrm.engine.model import Project
from jivocrm.store.base import RefusalCount, Rejection, Store

# The reasons intake records, as sentences with their values (``Text(STOPPING)``, …).
STOPPING = N_("the daemon was stopping; Jivo delivers again")
TOO_LARGE = N_("the body is over server.body_limit ({limit} B)")
TOO_SLOW = N_("the body took over {seconds} s to arrive")
NOT_UTF8 = N_("the body is not UTF-8 (byte {byte})")
NOT_JSON = N_("the body is not JSON: {error}")
TOO_DEEP = N_("the body is nested too deeply")
NOT_A_NUMBER = N_("{name} is not a JSON number; send null or a finite number")
NUMBER_TOO_LARGE = N_("{text} is too large for a number; send it as text")
OTHER_WIDGET = N_("widget_id {widget} is not the widget of channel {channel}")
NOT_STORED = N_("the store could not take it: {error}")
REASONS = (
    STOPPING,
    TOO_LARGE,
    TOO_SLOW,
    NOT_UTF8,
    NOT_JSON,
    TOO_DEEP,
    NOT_A_NUMBER,
    NUMBER_TOO_LARGE,
    OTHER_WIDGET,
    NOT_STORED,
)


@functools.cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P<{name}>.*?)")
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def reason_text(reason: str) -> str:
    """A stored reason as a :class:`Text` where it is one of ``REASONS`` (else as it is)."""
    for template in REASONS:
        found = _pattern(template).match(reason)
        if found is not None:
            return Text(template, **found.groupdict())
    return reason


def shown_reason(reason: str) -> str:
    """A stored (English) reason in the reader's language; a message jivocrm does not know (one
    of the event parser's, say) is looked up as it is."""
    text = reason_text(reason)
    return text.localized() if isinstance(text, Text) else _(reason)


def refusal_json(refusal: Rejection) -> dict[str, Any]:
    data = dataclasses.asdict(refusal)
    data["excerpt"] = data.pop("body").decode("utf-8", "replace")
    return data


def advice(project: Project, refusal: Rejection) -> str:
    """What to change so Jivo's next delivery is accepted (a :class:`Text`: English, or the
    reader's language through ``localized``)."""
    channel = project.channels.get(refusal.channel)
    name = refusal.channel
    if refusal.status == 403:
        widget = channel.widget_id if channel else "?"
        return Text(
            "The event came from another Jivo channel than {name!r} (widget {widget}): the"
            " webhook URL of {name!r} is pasted into that other channel's settings. Give that"
            " site a channel of its own in jivocrm.yaml (its widget_id and its own token) and"
            " paste that channel's URL there — or, if the widget_id of {name!r} is wrong,"
            " correct it.",
            name=name,
            widget=widget,
        )
    if refusal.status == 413:
        return Text(
            "The body was larger than server.body_limit ({limit} bytes). If Jivo's events are"
            " this large (long chats), raise server.body_limit in jivocrm.yaml.",
            limit=project.server.body_limit,
        )
    if refusal.status == 408:
        return Text(
            "The body did not arrive within server.body_timeout: a slow or broken connection"
            " (Jivo delivers again). If it happens often, raise server.body_timeout."
        )
    if refusal.status == 415:
        return Text(
            "The body was not sent as JSON. Jivo posts JSON objects; if a test tool sent it, send"
            " Content-Type application/json, or use `jivocrm send --sample chat_accepted`."
        )
    if refusal.status == 400:
        return Text(
            "The body is not a Jivo event (a JSON object with event_name). If a test tool sent"
            " it, `jivocrm send --sample chat_accepted` shows the form; if Jivo sent it, its"
            " format changed: keep this excerpt and report it."
        )
    if refusal.status == 503 and "stopping" in refusal.reason:
        return Text(
            "The daemon was stopping; Jivo was answered 503 and delivers again. Nothing to do."
        )
    if refusal.status == 503:
        return Text(
            "The store could not take the event: check the disk and the database"
            " (`jivocrm store check`). Jivo was answered 503 and delivers again."
        )
    return Text("See the reason above.")


def unknown_json(count: RefusalCount) -> dict[str, Any]:
    return {
        "remote": count.remote,
        "requests": count.count,
        "first_at": count.first_at,
        "last_at": count.last_at,
    }


UNKNOWN_ADVICE = Text(
    "Requests with a token of no channel are answered 404 and counted, without their bodies. A"
    " Jivo channel still posting to an old webhook URL (the token changed) shows up here: paste"
    " the current URL from `jivocrm channels --show-token` into that channel."
)


async def refused_list(
    store: Store, *, channel: str | None = None, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    rows = await store.refusals(channel=channel, limit=limit, offset=offset)
    counts = await store.refusal_counts()
    known = [c for c in counts if c.channel and (channel is None or c.channel == channel)]
    unknown = [c for c in counts if not c.channel] if channel is None else []
    return {
        "refused": [refusal_json(r) for r in rows],
        "counted": sum(c.count for c in known),
        "by_channel": _by_channel(known),
        "unknown_tokens": [unknown_json(c) for c in unknown],
    }


def _by_channel(counts: list[RefusalCount]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for count in counts:
        by_status = found.setdefault(count.channel, {})
        by_status[str(count.status)] = by_status.get(str(count.status), 0) + count.count
    return found


async def refusal_detail(store: Store, project: Project, refusal_id: int) -> dict[str, Any]:
    refusal = await store.get_refusal(refusal_id)
    if refusal is None:
        raise JivoCRMError(
            Text(
                "no refused delivery {id} (only the newest are kept; `jivocrm events list"
                " --refused` lists them)",
                id=refusal_id,
            )
        )
    return {**refusal_json(refusal), "advice": advice(project, refusal)}


__all__ = [
    "REASONS",
    "UNKNOWN_ADVICE",
    "advice",
    "reason_text",
    "refusal_detail",
    "refusal_json",
    "refused_list",
    "shown_reason",
]
