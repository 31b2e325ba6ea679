"""The journal's picture of each Jivo channel, shared by ``jivocrm channels`` (and ``check``) and
the channels page: its webhook URL, the bundles serving it, its last event and last refusal, how
many deliveries were refused — and, for a channel that never delivered, what to do in Jivo."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jivocrm.core.i18n import Text
from jivocrm.engine.addresses import public_address
from jivocrm.engine.envvars import resolve_text
from jivocrm.engine.model import Channel, Project
from jivocrm.journal.refusals import refusal_json
from jivocrm.store.base import RefusalCount, Rejection, Store

JIVO_PATH = "«Управление» › «Каналы связи» › «Настроить» › «Настройки интеграции для разработчиков»"
MASKED = "********"


def webhook_path(channel: Channel, environ: Mapping[str, str], show_token: bool) -> str:
    """``/jivo/<token>``; the reference as written when this shell does not have the variable."""
    missing: list[str] = []
    token = resolve_text(channel.token, environ, missing)
    if missing or not token:
        return f"/jivo/{channel.token}"
    return f"/jivo/{token if show_token else MASKED}"


def serving(project: Project, channel: Channel) -> list[str]:
    """Bundles that run on this channel's events (a bundle without ``channels`` serves all)."""
    names = {channel.name, channel.widget_id}
    return [b.name for b in project.bundles if not b.channels or names & set(b.channels)]


@dataclass
class Deliveries:
    """What the journal says of each channel's deliveries."""

    last_event: dict[str, float] = field(default_factory=dict)
    last_refusal: dict[str, Rejection] = field(default_factory=dict)
    refused: dict[str, dict[int, int]] = field(default_factory=dict)  # channel → status → count
    unknown_tokens: list[RefusalCount] = field(default_factory=list)


async def deliveries(store: Store) -> Deliveries:
    found = Deliveries(await store.last_event_at(), await store.last_refusals())
    for count in await store.refusal_counts():
        if count.channel == "":
            found.unknown_tokens.append(count)
            continue
        by_status = found.refused.setdefault(count.channel, {})
        by_status[count.status] = by_status.get(count.status, 0) + count.count
    return found


def channel_rows(
    project: Project, seen: Deliveries, environ: Mapping[str, str], show_token: bool
) -> list[dict[str, Any]]:
    base = public_address(project, environ)
    rows = []
    for channel in project.channels.values():
        refused = seen.refused.get(channel.name, {})
        last = seen.last_refusal.get(channel.name)
        rows.append(
            {
                "channel": channel.name,
                "widget_id": channel.widget_id,
                "webhook_url": base + webhook_path(channel, environ, show_token),
                "bundles": serving(project, channel),
                "last_event_at": seen.last_event.get(channel.name),
                "last_refusal": refusal_json(last)
                if (last := seen.last_refusal.get(channel.name))
                else None,
                "refused": sum(refused.values()),
                "refused_by_status": {str(k): v for k, v in sorted(refused.items())},
            }
        )
    return rows


def jivo_steps(url: str) -> list[str]:
    """What to do in Jivo for a channel that never delivered."""
    return [
        Text(
            "In Jivo open {path} (Manage › Channels › Settings › Integration settings for"
            " developers) of this channel's site.",
            path=JIVO_PATH,
        ),
        Text("Switch webhooks on and paste the URL: {url}", url=url),
        Text(
            "A channel has ONE webhook URL. If another integration (Albato, or an earlier one)"
            " already uses it — Jivo then says «Ой-ёй, подключение не удалось» — switch that"
            " integration off there first, then paste this URL."
        ),
        Text(
            "Then start a test chat on the site: `jivocrm channels` shows its event within seconds."
        ),
    ]


__all__ = [
    "JIVO_PATH",
    "MASKED",
    "Deliveries",
    "channel_rows",
    "deliveries",
    "jivo_steps",
    "serving",
    "webhook_path",
]
