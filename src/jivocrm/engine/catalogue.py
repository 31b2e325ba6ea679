"""The Jivo events as Jivo's webhook documentation describes them, for parsing, validate and docs.

Each event is a tree of ``Field``s, every one marked required (in the documented example and not
marked "необязательный") or optional (marked so, left out or null in one of the examples, or —
where noted — missing in real deliveries). A path is dotted; ``[]`` marks a list item
(``agents[].email``), which a template indexes (``event.agents[0].email``). Besides the raw
payload, jivocrm adds computed fields (``COMPUTED``).

What "optional" costs a template: parsing fills every documented key that is absent with None and
every top-level block with an object, so ``{{ event.department.name }}`` never fails. Reading
*below* something that may be missing does: a nested optional block (``session.utm_json``), a
list item (``agents[0]``), a key of a free-form map (``attributes.city``). ``read_risk`` names it,
and validate asks for a default there.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["value", "object", "list", "map"]


@dataclass(frozen=True)
class Field:
    """One documented field: whether Jivo always sends it, and what lies below it."""

    optional: bool = False
    kind: Kind = "value"
    # An object's keys; a list's item keys (the items are objects).
    fields: Mapping[str, Field] = field(default_factory=dict)


def value(optional: bool = False) -> Field:
    return Field(optional)


def block(optional: bool = False, **fields: Field) -> Field:
    return Field(optional, "object", fields)


def items(optional: bool = False, **fields: Field) -> Field:
    return Field(optional, "list", fields)


def free(optional: bool = False) -> Field:
    """An object whose keys are the sender's (attributes, social networks, analytics)."""
    return Field(optional, "map")


OPT = True  # an optional field

VISITOR = block(
    name=value(OPT),
    email=value(OPT),
    phone=value(OPT),
    description=value(),
    number=value(),
    social=free(OPT),
    chats_count=value(),
)
AGENT = block(id=value(), name=value(), email=value(), phone=value(OPT))
# The employee responsible for the client: no phone, and null while there is none.
ASSIGNED_AGENT = block(OPT, id=value(), email=value(), name=value())
ORGANIZATION = block(OPT, id=value(), name=value())
STATUS = block(OPT, id=value(), title=value())
TAGS = items(id=value(), title=value())
DEPARTMENT = block(OPT, id=value(), name=value())
# The dialog's topic, chosen by the agent; the English call_event example has none.
TOPIC = block(OPT, topic_id=value(), title=value(), parent_id=value())
GEOIP = block(
    region_code=value(),
    country_code=value(),
    country=value(),
    region=value(),
    city=value(),
    latitude=value(),
    longitude=value(),
    organization=value(),
)
UTM_JSON = block(
    OPT,
    source=value(OPT),
    campaign=value(OPT),
    content=value(OPT),
    medium=value(OPT),
    term=value(OPT),
)
# utm and utm_json are in every example, but a visit without UTM tags carries neither.
SESSION = block(geoip=GEOIP, utm=value(OPT), utm_json=UTM_JSON, ip_addr=value(), user_agent=value())
PAGE = block(url=value(), title=value(OPT))
CALL = block(type=value(), phone=value(), status=value(), reason=value(OPT), record_url=value(OPT))
CHAT = block(
    messages=items(message=value(), timestamp=value(), type=value(), agent_id=value(OPT)),
    blacklisted=value(),
    rate=value(OPT),
    invitation=value(OPT),
)
ANALYTICS = free(OPT)

# The client card's data that Jivo sends with every chat event (null when unset).
CLIENT: dict[str, Field] = {
    "organization": ORGANIZATION,
    "status": STATUS,
    "assigned_agent": ASSIGNED_AGENT,
    "tags": TAGS,
}
HEAD: dict[str, Field] = {"event_name": value(), "widget_id": value(), "user_token": value(OPT)}
VISIT: dict[str, Field] = {"session": SESSION, "page": PAGE, "analytics": ANALYTICS}

EVENTS: dict[str, dict[str, Field]] = {
    "call_event": {
        **HEAD,
        "chat_id": value(),
        "topic": TOPIC,
        "visitor": VISITOR,
        "agent": AGENT,
        "department": DEPARTMENT,
        **VISIT,
        "call": CALL,
    },
    "chat_accepted": {
        **HEAD,
        "visitor": VISITOR,
        **CLIENT,
        "chat_id": value(),
        "topic": TOPIC,
        "department": DEPARTMENT,
        **VISIT,
        "agent": AGENT,
    },
    "chat_updated": {
        **HEAD,
        "visitor": VISITOR,
        **CLIENT,
        "chat_id": value(),
        "topic": TOPIC,
        "department": DEPARTMENT,
        **VISIT,
        "agent": AGENT,
    },
    "client_updated": {**HEAD, "visitor": VISITOR, **CLIENT, "client_id": value()},
    "client_attribute_updated": {**HEAD, "client_id": value(), "attributes": free()},
    "chat_finished": {
        **HEAD,
        "visitor": VISITOR,
        **CLIENT,
        "chat_id": value(),
        "topic": TOPIC,
        "department": DEPARTMENT,
        **VISIT,
        "agents": items(id=value(), name=value(), email=value(), phone=value(OPT)),
        "chat": CHAT,
        "plain_messages": value(OPT),
        "html_messages": value(OPT),
    },
    "offline_message": {
        **HEAD,
        "visitor": VISITOR,
        **CLIENT,
        # In the current example; the older API sent offline messages without a chat.
        "chat_id": value(OPT),
        "topic": TOPIC,
        "department": DEPARTMENT,
        **VISIT,
        "message": value(),
        "offline_message_id": value(),
    },
    # Not on Jivo's current page: the shape comes from the public client libraries.
    "chat_assigned": {
        **HEAD,
        "chat_id": value(),
        "assign_to": value(),
        "visitor": VISITOR,
        "agent": block(OPT, **AGENT.fields),
        "assigned_agent": ASSIGNED_AGENT,
        "department": DEPARTMENT,
        "session": SESSION,
        "page": PAGE,
    },
}
# Events whose shape no Jivo page documents (kept for accounts that still receive them).
UNDOCUMENTED = frozenset({"chat_assigned"})

# The replies Jivo reads: only these triggers may carry a jivo_reply step.
REPLY_EVENTS = frozenset({"chat_accepted", "chat_updated"})

# Computed by jivocrm, present on every event (None where the payload has nothing to offer).
COMPUTED: dict[str, str] = {
    "operator": "the agent who handled the event: agent, assigned_agent or the first of agents",
    "operator.id": "the operator's Jivo id (text)",
    "operator.name": "the operator's name",
    "operator.email": "the operator's e-mail (their Jivo login)",
    "operator.phone": "the operator's phone",
    "transcript": "chat_finished: the messages as readable text, one line each, agents by name, "
    "times in the project's timezone",
    "phone": "the visitor's phone (or the call's) in E.164, e.g. +79161234567",
    "email": "the visitor's e-mail in lower case",
    "chat": "chat_finished: the chat block (messages, rate, …)",
    "channel": "the name of the project's channel (jivocrm.yaml) the event came in on",
}


def walk(tree: Mapping[str, Field], prefix: str = "") -> Iterator[tuple[str, Field]]:
    """Every (path, field) of a tree, parents before children; list items as ``name[]``."""
    for name, node in tree.items():
        path = f"{prefix}{name}"
        yield path, node
        if node.kind == "list":
            yield path + "[]", Field(False, "object", node.fields)
            yield from walk(node.fields, path + "[].")
        elif node.kind == "object":
            yield from walk(node.fields, path + ".")


@functools.cache
def paths(event: str) -> Mapping[str, Field]:
    """Every documented path of ``event`` → its field."""
    return dict(walk(EVENTS[event]))


@functools.cache
def fields(event: str) -> frozenset[str]:
    """Every path (``[]`` for list items) that events of this type may carry, computed included."""
    return frozenset(COMPUTED) | frozenset(paths(event))


def normalize_path(path: str) -> str:
    """``agents[0].email`` → ``agents[].email``; ``agents.0.email`` likewise."""
    parts = []
    for part in path.replace("]", "").split("."):
        if "[" in part:
            head, _ = part.split("[", 1)
            parts.append(head + "[]")
        elif part.isdigit() and parts:
            parts[-1] = parts[-1] if parts[-1].endswith("[]") else parts[-1] + "[]"
        else:
            parts.append(part)
    return ".".join(parts)


@functools.cache
def _maps(event: str) -> tuple[str, ...]:
    return tuple(p for p, f in paths(event).items() if f.kind == "map")


def known(event: str, path: str) -> bool:
    """Whether ``path`` exists in ``event``; anything below a free-form object counts too."""
    norm = normalize_path(path)
    if norm in fields(event):
        return True
    return any(norm.startswith(prefix + ".") for prefix in _maps(event))


# Method names that read a mapping safely whatever keys it has.
MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})


@dataclass(frozen=True)
class Risk:
    """Why reading a path can fail at run time: what may be missing, and how it may be."""

    missing: str  # the path that may be absent, null or empty ("agents", "session.utm_json")
    why: str  # "is a list that may be empty", "may be absent"…
    test: str  # the `when:` expression that makes the read safe

    value: bool = False  # the missing thing is a plain value, read past (`name.upper()`)

    @property
    def when(self) -> str:
        return f"{{{{ {self.test} }}}}"

    def fix(self, written: str) -> str:
        """The template that reads ``written`` (an event path) safely."""
        if self.value:
            # Past a plain value it is a method: a default after the call comes too late.
            rest = written[len(self.missing) :]
            return f"{{{{ (event.{self.missing} or ''){rest} }}}}"
        return f"{{{{ event.{written} | default('') }}}}"


def read_risk(event: str, path: str) -> Risk | None:
    """What may be missing when a template reads ``path`` (normalized or not), or None.

    Top-level blocks and required nested ones are always objects after parsing; below them,
    an optional block may be null, a list may be shorter, a free-form map may lack the key.
    """
    parts = normalize_path(path).split(".")
    documented = paths(event)
    for depth in range(1, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        below = parts[depth] if depth < len(parts) else None
        if prefix.endswith("[]"):
            return Risk(prefix[:-2], "is a list that may be empty", f"event.{prefix[:-2]}")
        found = documented.get(prefix)
        if found is None or below is None:
            return None
        if found.kind == "map":
            if below in MAPPING_METHODS:
                return None
            key = f"{prefix}.{below}"
            return Risk(key, "is there only when Jivo sends it", f"event.{key} is defined")
        if found.optional and (depth > 1 or found.kind == "value"):
            return Risk(prefix, "may be absent", f"event.{prefix}", found.kind == "value")
    return None


# What each raw top-level field means, for the reference.
MEANING: dict[str, str] = {
    "event_name": "the event type",
    "widget_id": "the channel's public id from the widget code",
    "user_token": "the site's own visitor id set with jivo_api.setUserToken (not a secret)",
    "chat_id": "the chat's id (a number; text in some payloads)",
    "visitor": "the visitor: name, email, phone, description, number, social, chats_count",
    "organization": "the client's company in Jivo's CRM: id, name (null when none)",
    "status": "the client's category in Jivo's CRM: id, title, e.g. contact_later (null when none)",
    "assigned_agent": "the employee responsible for the client: id, email, name (null when none)",
    "tags[]": "the client's tags: id, title (empty when none)",
    "topic": "the dialog's topic chosen by the agent: topic_id, title, parent_id",
    "agent": "the agent (operator): id, name, email, phone",
    "agents[]": "every agent who took part in the chat (chat_finished)",
    "department": "the department the visitor chose before the chat: id, name",
    "session": "geoip (country, region, city, …), utm (pipe-joined), utm_json (source, medium, "
    "campaign, content, term), ip_addr, user_agent",
    "page": "the page the visitor is on: url, title",
    "analytics": "analytics data, whatever keys Jivo sends (often {} or null)",
    "call": "type (callback|incoming|outgoing), phone, status (start|end|agent_connected|"
    "client_connected|error), reason, record_url",
    "chat": "messages[] (message, timestamp, type visitor|agent, agent_id), blacklisted, rate, "
    "invitation",
    "plain_messages": "a pre-rendered transcript when Jivo sends one (may be empty)",
    "html_messages": "the same in HTML (may be empty)",
    "offline_message_id": "the offline message's id (a number)",
    "message": "the text of the offline message",
    "client_id": "the client's id in Jivo (text in client_updated, a number in "
    "client_attribute_updated)",
    "attributes": "the client's attributes by name → value (text or number), as the agent or the "
    "visitor filled them",
    "assign_to": "the CRM link the chat was bound to (the crm_link of the chat_accepted reply)",
}


def shape(tree: Mapping[str, Field]) -> str:
    """A tree as text for the reference: ``visitor{name?, email?, …}``, ``?`` marks optional."""
    out = []
    for name, item in tree.items():
        text = name + ("?" if item.optional else "")
        if item.kind == "list":
            text += "[]"
        if item.kind in ("object", "list") and item.fields:
            text += "{" + shape(item.fields) + "}"
        elif item.kind == "map":
            text += "{…}"
        out.append(text)
    return ", ".join(out)
