"""A chat's messages as lines a person reads in the CRM: local time, who spoke, what was said.

Jivo stamps messages in Unix seconds; the project's ``timezone`` says whose clock the lines show
(a Moscow manager reads ``[13:40]``, not the UTC ``[10:40]``). Agents are named: a message's
``agent_id`` is looked up among the chat's agents (ids arrive as int or text), and a chat with one
agent gives that agent's name to messages that carry no id.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

VISITOR_LABEL = "Посетитель"
AGENT_LABEL = "Оператор"


@functools.cache
def zone(name: str | None) -> dt.tzinfo:
    """The timezone called ``name`` (IANA, e.g. Europe/Moscow); UTC for None."""
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC  # validate refuses an unknown name; a stale one must not stop a run


def known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def moment(value: Any, tz: dt.tzinfo) -> dt.datetime:
    """Unix seconds, ISO text or a datetime as an aware datetime in ``tz``.

    A naive datetime or ISO text without an offset is taken as already in ``tz``.
    """
    if isinstance(value, dt.datetime):
        found = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz)
    else:
        text = str(value).strip()
        try:
            return dt.datetime.fromtimestamp(float(text), tz)
        except ValueError:
            found = dt.datetime.fromisoformat(text)
    return found.replace(tzinfo=tz) if found.tzinfo is None else found.astimezone(tz)


def _clock(timestamp: Any, tz: dt.tzinfo) -> str:
    if timestamp is None or timestamp == "":
        return ""
    try:
        return moment(timestamp, tz).strftime("%H:%M")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _text_id(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() or None


def render(
    messages: Any,
    agents: Iterable[Any] = (),
    tz: dt.tzinfo = dt.UTC,
    visitor: str = VISITOR_LABEL,
    agent: str = AGENT_LABEL,
) -> str:
    """``[hh:mm] Name: text`` lines; ``agents`` are the chat's agents (``id``, ``name``)."""
    people = [a for a in agents if isinstance(a, Mapping)]
    names = {_text_id(a.get("id")): a.get("name") for a in people if a.get("name")}
    sole = people[0].get("name") if len(people) == 1 else None
    lines = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, Mapping):
            continue
        if message.get("type") == "agent":
            who = names.get(_text_id(message.get("agent_id"))) or sole or agent
        else:
            who = visitor
        when = _clock(message.get("timestamp"), tz)
        lines.append(f"{f'[{when}] ' if when else ''}{who}: {message.get('message') or ''}")
    return "\n".join(lines)


__all__ = ["AGENT_LABEL", "VISITOR_LABEL", "known_zone", "moment", "render", "zone"]
