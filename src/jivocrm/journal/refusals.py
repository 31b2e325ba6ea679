"""Refused deliveries as data, shared by the CLI (``events list --refused``, ``events explain
--refused``) and the web page: each with what to change so the next delivery is accepted.
Excerpts were redacted when they were recorded; whoever shows them redacts again for the viewer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import N_, Text
from jivocrm.engine.model import Project
from jivocrm.store.base import RefusalCount, Rejection, Store


def refusal_json(refusal: Rejection) -> dict[str, Any]:
    data = dataclasses.asdict(refusal)
    data["excerpt"] = data.pop("body").decode("utf-8", "replace")
    return data


def advice(project: Project, refusal: Rejection) -> str:
    """What to change so Jivo's next delivery is accepted."""
    channel = project.channels.get(refusal.channel)
    name = refusal.channel
    if refusal.status == 403:
        widget = channel.widget_id if channel else "?"
        return Text(
            "The event came from another Jivo channel than {name} (widget {widget}): the"
            " webhook URL of {name} is pasted into that other channel's settings. Give that"
            " site a channel of its own in jivocrm.yaml (its widget_id and its own token) and"
            " paste that channel's URL there — or, if the widget_id of"
            " {name} is wrong, correct it.",
            name=repr(name),
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


UNKNOWN_ADVICE = N_(
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
            f"no refused delivery {refusal_id} (only the newest are kept; `jivocrm events list"
            " --refused` lists them)"
        )
    return {**refusal_json(refusal), "advice": advice(project, refusal)}


__all__ = ["UNKNOWN_ADVICE", "advice", "refusal_detail", "refusal_json", "refused_list"]
