"""Which bundles an event runs, why the others do not, and the lane each run queues in.

``match`` answers for every bundle of the project, in project order: a bundle that does not
match is recorded as not matched with its reason, never silently dropped. A paused bundle
(``enabled: false``) that would match is ``matched=True, paused=True`` so the daemon can hold
the event until the bundle is enabled again.

Lanes: runs sharing a lane key execute one at a time in arrival order, so ``chat_accepted`` and
``chat_finished`` of one chat never race to create two contacts. The key is the bundle's ``lane``
template when it has one, else ``chat:<widget>:<chat_id>``, else ``visitor:<widget>:<visitor>``,
else a key of its own (nothing to order the event against).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog

from jivocrm.core.errors import TemplateError
from jivocrm.core.i18n import Text
from jivocrm.engine.events import JivoEvent
from jivocrm.engine.filters import evaluate_filter
from jivocrm.engine.model import Bundle, Channel, Project
from jivocrm.engine.template_budget import MoveToThread
from jivocrm.engine.templates import render

log = structlog.get_logger("jivocrm.matching")


@dataclass(frozen=True)
class Match:
    bundle: Bundle
    matched: bool
    reason: str
    lane: str | None = None
    paused: bool = False


def default_lane(event: JivoEvent) -> str:
    widget = event.widget_id or "-"
    if event.chat_id:
        return f"chat:{widget}:{event.chat_id}"
    if event.visitor_key:
        return f"visitor:{widget}:{event.visitor_key}"
    return f"event:{uuid.uuid4().hex}"


def lane_for(bundle: Bundle, event: JivoEvent) -> str:
    if not bundle.lane:
        return default_lane(event)
    context = {"event": dict(event), "bundle": {"name": bundle.name}}
    try:
        # Intake renders on the event loop: a lane template gets the inline share of it only.
        value = render(bundle.lane, context, inline=True)
    except (TemplateError, MoveToThread) as exc:
        # A lane is about ordering, not about whether the run happens: fall back, say so.
        error = str(exc) or "the lane template takes too long to render"
        log.warning("lane_template_failed", bundle=bundle.name, error=error)
        return default_lane(event)
    text = "" if value is None else str(value).strip()
    return f"custom:{text}" if text else default_lane(event)


def _channel_served(bundle: Bundle, event: JivoEvent, channel: Channel | None) -> str | None:
    """None when the bundle serves the event's channel, else the reason it does not."""
    if not bundle.channels:
        return None
    names = {event.widget_id}
    if channel is not None:
        names |= {channel.name, channel.widget_id}
    if names & set(bundle.channels):
        return None
    widget = event.widget_id or "unknown"
    served = ", ".join(bundle.channels)
    if channel is not None:
        return Text(
            "channel {widget} (channel {name}) is not served; the bundle serves {served}",
            widget=widget,
            name=channel.name,
            served=served,
        )
    return Text(
        "channel {widget} is not served; the bundle serves {served}", widget=widget, served=served
    )


def match_bundle(bundle: Bundle, event: JivoEvent, channel: Channel | None = None) -> Match:
    if not event.is_known:
        return Match(
            bundle,
            False,
            Text("event type {name} is not a Jivo event jivocrm knows", name=repr(event.name)),
        )
    if bundle.event != event.name:
        return Match(
            bundle,
            False,
            Text(
                "event is {event}; the bundle runs on {wanted}",
                event=event.name,
                wanted=bundle.event,
            ),
        )
    not_served = _channel_served(bundle, event, channel)
    if not_served:
        return Match(bundle, False, not_served)
    verdict = evaluate_filter(bundle.filter, event)
    if not verdict.ok:
        return Match(bundle, False, verdict.reason)
    lane = lane_for(bundle, event)
    if not bundle.enabled:
        reason = Text("{reason}; the bundle is paused", reason=verdict.reason)
        return Match(bundle, True, reason, lane, paused=True)
    return Match(bundle, True, verdict.reason, lane)


def match(project: Project, event: JivoEvent, channel: Channel | None = None) -> list[Match]:
    """A ``Match`` for every bundle of the project, in project order."""
    if channel is not None and event.get("channel") is None:
        # The channel the webhook came in on (its token), for filters on `channel`.
        event["channel"] = channel.name
    return [match_bundle(bundle, event, channel) for bundle in project.bundles]


__all__ = ["Match", "default_lane", "lane_for", "match", "match_bundle"]
