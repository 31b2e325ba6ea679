"""Jivo webhook payloads as ``JivoEvent``: the raw payload, filled in, plus computed fields.

Parsing is tolerant on purpose: Jivo's own docs and the public libraries
disagree on types (``chat_id``, ``agent.id``, ``visitor.number`` arrive as int or text), keys go
missing (``offline_message`` has no ``chat_id``), blocks arrive as null, and unknown keys appear.
So nothing is rejected except a body that is not an object or has no text ``event_name``:

* raw values are kept as they came (an int stays an int), unknown keys included;
* every documented field of the event type that is absent (or whose block is null) is present
  with the value None, and every top-level block (and required nested one) is an object, so
  ``{{ event.visitor.email }}`` never fails on a thin payload — typos, and reads below what may
  be missing (list items, optional nested blocks), are ``validate``'s job, against the same
  catalogue;
* client attributes written as a bracketed list of pairs (as Jivo's example has them) read as
  the map they mean;
* the computed fields of ``catalogue.COMPUTED`` are added: ``operator``, ``transcript`` (on the
  project's clock), ``phone`` (E.164), ``email`` (lower case), ``chat`` and ``channel``.

An unknown ``event_name`` is not an error here: the daemon records such an event as ignored
(``is_known`` is False) and ``match`` explains that no bundle serves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from jivocrm.core.errors import JivoCRMError
from jivocrm.core.phones import normalize_email, normalize_phone
from jivocrm.engine import catalogue, transcript

PERSON_KEYS = ("id", "name", "email", "phone")
SKIPPABLE = frozenset({"transcript", "phone"})
VISITOR_LABEL = transcript.VISITOR_LABEL


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

    def __init__(
        self,
        data: Mapping[str, Any],
        raw: Mapping[str, Any],
        skipped: frozenset[str] = frozenset(),
        region: str = "RU",
    ) -> None:
        super().__init__(data)
        self.raw: dict[str, Any] = dict(raw)
        # Computed fields left out (``parse_event(skip=…)``): absent, never read at intake.
        self.skipped = skipped
        self.region = region

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
        visitor = self.get("visitor")
        if not isinstance(visitor, Mapping):  # a visitor that came as text, a list, a number
            visitor = {}
        phone = self.get("phone")
        if "phone" in self.skipped:
            phone = _phone(self, self.region)
        for value in (visitor.get("number"), self.get("user_token"), phone, self.get("email")):
            key = text_id(value)
            if key:
                return key
        return None


VALUE, OBJECT, OPTIONAL_OBJECT, LIST = 0, 1, 2, 3
Plan = tuple[tuple[str, int, Any], ...]
_PLANS: dict[int, tuple[Mapping[str, catalogue.Field], Plan]] = {}


def _plan(tree: Mapping[str, catalogue.Field]) -> Plan:
    """A block's documented keys as (key, what, the tree below): read once per tree, so
    filling an event reads no field specs."""
    found = _PLANS.get(id(tree))
    if found is not None and found[0] is tree:
        return found[1]
    plan: list[tuple[str, int, Any]] = []
    for key, spec in tree.items():
        if spec.kind == "object":
            plan.append((key, OPTIONAL_OBJECT if spec.optional else OBJECT, spec.fields))
        elif spec.kind == "list":
            plan.append((key, LIST, spec.fields))
        else:
            plan.append((key, VALUE, None))
    _PLANS[id(tree)] = (tree, tuple(plan))
    return _PLANS[id(tree)][1]


def _fill(value: Any, tree: Mapping[str, catalogue.Field]) -> Any:
    """A copy of an object with every documented key present (None when absent); a null object
    becomes one. Only the dicts that get keys are copied: the payload itself is never changed.
    Below it, required objects are filled the same way, optional ones when they came."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        return value  # an unexpected shape stays as it came: data is never rewritten
    value = dict(value)
    for key, what, below in _plan(tree):
        if what == VALUE:
            if key not in value:
                value[key] = None
        elif what == LIST:
            value[key] = _items(value.get(key), below)
        else:
            inner = value.get(key)
            if inner is not None or what == OBJECT:
                value[key] = _fill(inner, below)
            elif key not in value:
                value[key] = None
    return value


def _items(value: Any, tree: Mapping[str, catalogue.Field]) -> Any:
    if not isinstance(value, list):
        return []
    return [_fill(item, tree) if isinstance(item, dict) else item for item in value]


def _filled(payload: dict[str, Any]) -> dict[str, Any]:
    # A shallow copy: _fill copies the blocks it completes (a deep copy of every event cost
    # more than the rest of intake together).
    data = dict(payload)
    for key, spec in catalogue.EVENTS.get(str(data["event_name"]), {}).items():
        if spec.kind == "object":
            data[key] = _fill(data.get(key), spec.fields)
        elif spec.kind == "list":
            data[key] = _items(data.get(key), spec.fields)
        elif spec.kind == "map":
            data[key] = _free_map(data.get(key))
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


def _free_map(value: Any) -> Any:
    """A free-form map as a dict. Jivo's example writes client attributes as a bracketed list of
    pairs, so a list of one-key objects or of [name, value] pairs is read as the map it means;
    null is an empty map; any other shape stays as it came."""
    if value is None:
        return {}
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict):
                merged.update(item)
            elif isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
                merged[item[0]] = item[1]
            else:
                return value
        return merged
    return value


def _agents(data: Mapping[str, Any]) -> list[Any]:
    agents = data.get("agents")
    if isinstance(agents, list) and agents:
        return agents
    return [a for a in (data.get("agent"),) if isinstance(a, Mapping)]


def _transcript(data: Mapping[str, Any], tz: dt.tzinfo) -> str:
    chat = data.get("chat")
    messages = chat.get("messages") if isinstance(chat, Mapping) else None
    if isinstance(messages, list) and messages:
        return transcript.render(messages, _agents(data), tz)
    if isinstance(data.get("plain_messages"), str) and data["plain_messages"].strip():
        return str(data["plain_messages"])
    if data.get("event_name") == "offline_message" and data.get("message"):
        return f"{VISITOR_LABEL}: {data['message']}"
    return ""


def parse_event(
    payload: Mapping[str, Any],
    *,
    region: str = "RU",
    timezone: str | None = None,
    channels: Mapping[str, str] | None = None,
    skip: Collection[str] = (),
) -> JivoEvent:
    """A ``JivoEvent`` from a decoded webhook body; ``region`` is the default for phones,
    ``timezone`` (IANA; UTC when None) the clock of the transcript, ``channels`` the project's
    channel names by widget id. ``skip`` leaves out computed fields of ``SKIPPABLE`` that
    nobody will read (intake, when no filter or lane reads them)."""
    if not isinstance(payload, Mapping):
        raise EventError(f"a Jivo event is a JSON object, not {type(payload).__name__}")
    name = payload.get("event_name")
    if not isinstance(name, str) or not name.strip():
        raise EventError("the payload has no text `event_name`; is it a Jivo webhook?")
    data = _filled(dict(payload))
    visitor = data.get("visitor") if isinstance(data.get("visitor"), Mapping) else {}
    data["operator"] = _operator(data)
    if "transcript" not in skip:
        data["transcript"] = _transcript(data, transcript.zone(timezone))
    if "phone" not in skip:
        data["phone"] = _phone(data, region)
    email = (visitor or {}).get("email")
    data["email"] = normalize_email(None if email is None else str(email))
    data["chat"] = data.get("chat") if isinstance(data.get("chat"), Mapping) else None
    data["channel"] = (channels or {}).get(text_id(data.get("widget_id")) or "")
    return JivoEvent(data, payload, frozenset(skip) & SKIPPABLE, region)


def _phone(data: Mapping[str, Any], region: str) -> str | None:
    """The visitor's phone (or the call's) in E.164."""
    visitor = data.get("visitor") if isinstance(data.get("visitor"), Mapping) else {}
    call = data.get("call") if isinstance(data.get("call"), Mapping) else {}
    raw_phone = (visitor or {}).get("phone") or (call or {}).get("phone")
    return normalize_phone(None if raw_phone is None else str(raw_phone), region)


__all__ = ["EventError", "JivoEvent", "parse_event", "text_id"]
