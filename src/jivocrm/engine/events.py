"""Jivo webhook payloads as ``JivoEvent``: the raw payload, filled in, plus computed fields.

Parsing is tolerant on purpose: Jivo's own docs and the public libraries
disagree on types (``chat_id``, ``agent.id``, ``visitor.number`` arrive as int or text), keys go
missing (``offline_message`` has no ``chat_id``), blocks arrive as null, and unknown keys appear.
So nothing is rejected except a body that is not an object or has no text ``event_name``:

* raw values are kept as they came (an int stays an int), unknown keys included;
* every documented field of the event type that is absent (or whose block is null) is present
  with the value None, so ``{{ event.visitor.email }}`` never fails on a thin payload — typos
  are ``validate``'s job, against the same catalogue;
* the computed fields of ``catalogue.COMPUTED`` are added: ``operator``, ``transcript``,
  ``phone`` (E.164), ``email`` (lower case) and ``chat``.

An unknown ``event_name`` is not an error here: the daemon records such an event as ignored
(``is_known`` is False) and ``match`` explains that no bundle serves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from jivocrm.engine import catalogue
from jivocrm.engine.phones import normalize_email, normalize_phone
from jivocrm.errors import JivoCRMError

PERSON_KEYS = ("id", "name", "email", "phone")
VISITOR_LABEL = "Посетитель"
AGENT_LABEL = "Оператор"


class EventError(JivoCRMError):
    """The payload is not a Jivo event at all (not an object, or no text ``event_name``)."""


def text_id(value: Any) -> str | None:
    """An id as text, whichever type it came in: ``58213``, ``"58213"``, ``58213.0``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


class JivoEvent(dict[str, Any]):
    """One Jivo event: the payload's keys (filled in) and the computed fields.

    Templates get ``dict(event)``, so the properties below never shadow payload keys there.
    """

    def __init__(self, data: Mapping[str, Any], raw: Mapping[str, Any]) -> None:
        super().__init__(data)
        self.raw: dict[str, Any] = dict(raw)

    @property
    def name(self) -> str:
        return str(self["event_name"])

    @property
    def is_known(self) -> bool:
        return self.name in catalogue.EVENTS

    @property
    def widget_id(self) -> str | None:
        return text_id(self.get("widget_id"))

    @property
    def chat_id(self) -> str | None:
        return text_id(self.get("chat_id"))

    @property
    def visitor_key(self) -> str | None:
        """Who the visitor is, for lanes: the visitor number, the site's token, phone or e-mail."""
        visitor = self.get("visitor") or {}
        for value in (
            visitor.get("number"),
            self.get("user_token"),
            self.get("phone"),
            self.get("email"),
        ):
            key = text_id(value)
            if key:
                return key
        return None


def _fill(value: Any, keys: tuple[str, ...]) -> Any:
    """A copy of a block with every documented key present (None when absent); a null block
    becomes one. Only the dicts that get keys are copied: the payload itself is never changed."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        return value  # an unexpected shape stays as it came: data is never rewritten
    value = dict(value)
    copied: set[str] = set()
    for key in keys:
        head = key.split(".", 1)
        if len(head) == 1:
            value.setdefault(key, None)
            continue
        inner = value.get(head[0])
        if isinstance(inner, dict):
            if head[0] not in copied:
                inner = value[head[0]] = dict(inner)
                copied.add(head[0])
            inner.setdefault(head[1], None)
    return value


def _filled(payload: dict[str, Any]) -> dict[str, Any]:
    # A shallow copy: _fill copies the blocks it completes (a deep copy of every event cost
    # more than the rest of intake together).
    data = dict(payload)
    for key in catalogue.EVENTS.get(str(data["event_name"]), ()):
        if key.endswith("[]"):
            name = key[:-2]
            items = data.get(name)
            if not isinstance(items, list):
                data[name] = []
                continue
            sub = catalogue.BLOCKS.get(key, ())
            data[name] = [_fill(item, sub) if isinstance(item, dict) else item for item in items]
        elif key in catalogue.BLOCKS:
            data[key] = _fill(data.get(key), catalogue.BLOCKS[key])
        else:
            data.setdefault(key, None)
    return data


def _operator(data: Mapping[str, Any]) -> dict[str, Any]:
    """The agent who handled the event, whichever key carries it."""
    candidates: list[Any] = [data.get("agent"), data.get("assigned_agent")]
    agents = data.get("agents")
    if isinstance(agents, list) and agents:
        candidates.append(agents[0])
    for agent in candidates:
        if isinstance(agent, Mapping) and any(agent.get(k) is not None for k in PERSON_KEYS):
            return {
                "id": text_id(agent.get("id")),
                "name": agent.get("name"),
                "email": normalize_email(agent.get("email")) or agent.get("email"),
                "phone": agent.get("phone"),
            }
    # No agent (an offline message): null fields, so templates can still say `| default(...)`.
    return dict.fromkeys(PERSON_KEYS)


def _clock(timestamp: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(timestamp), dt.UTC).strftime("%H:%M")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _transcript(data: Mapping[str, Any]) -> str:
    chat = data.get("chat")
    messages = chat.get("messages") if isinstance(chat, Mapping) else None
    if isinstance(messages, list) and messages:
        names = {
            text_id(a.get("id")): a.get("name")
            for a in data.get("agents") or []
            if isinstance(a, Mapping)
        }
        lines = []
        for message in messages:
            if not isinstance(message, Mapping):
                continue
            if message.get("type") == "agent":
                who = names.get(text_id(message.get("agent_id"))) or AGENT_LABEL
            else:
                who = VISITOR_LABEL
            when = _clock(message.get("timestamp"))
            lines.append(f"{f'[{when}] ' if when else ''}{who}: {message.get('message') or ''}")
        return "\n".join(lines)
    if isinstance(data.get("plain_messages"), str):
        return str(data["plain_messages"])
    if data.get("event_name") == "offline_message" and data.get("message"):
        return f"{VISITOR_LABEL}: {data['message']}"
    return ""


def parse_event(payload: Mapping[str, Any], *, region: str = "RU") -> JivoEvent:
    """A ``JivoEvent`` from a decoded webhook body; ``region`` is the default for phones."""
    if not isinstance(payload, Mapping):
        raise EventError(f"a Jivo event is a JSON object, not {type(payload).__name__}")
    name = payload.get("event_name")
    if not isinstance(name, str) or not name.strip():
        raise EventError("the payload has no text `event_name`; is it a Jivo webhook?")
    data = _filled(dict(payload))
    visitor = data.get("visitor") if isinstance(data.get("visitor"), Mapping) else {}
    call = data.get("call") if isinstance(data.get("call"), Mapping) else {}
    raw_phone = (visitor or {}).get("phone") or (call or {}).get("phone")
    data["operator"] = _operator(data)
    data["transcript"] = _transcript(data)
    data["phone"] = normalize_phone(None if raw_phone is None else str(raw_phone), region)
    email = (visitor or {}).get("email")
    data["email"] = normalize_email(None if email is None else str(email))
    data["chat"] = data.get("chat") if isinstance(data.get("chat"), Mapping) else None
    return JivoEvent(data, payload)


__all__ = ["EventError", "JivoEvent", "parse_event", "text_id"]
