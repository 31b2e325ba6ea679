"""The fields of the seven Jivo events (Jivo's webhook documentation), for validate and the docs.

A path is dotted; ``[]`` marks a list (``agents[].email``); a template may index it
(``event.agents[0].email``). Besides the raw payload, jivocrm adds computed fields (``COMPUTED``).
"""

from __future__ import annotations

from collections.abc import Iterable

PERSON = ("id", "name", "email", "phone")
VISITOR = ("name", "email", "phone", "number", "description", "social", "chats_count")
SESSION = (
    "geoip",
    "geoip.region_code",
    "geoip.country",
    "geoip.country_code",
    "geoip.region",
    "geoip.city",
    "geoip.latitude",
    "geoip.longitude",
    "geoip.organization",
    "utm",
    "utm_json",
    "utm_json.source",
    "utm_json.medium",
    "utm_json.campaign",
    "utm_json.content",
    "utm_json.term",
    "ip_addr",
    "user_agent",
)
BLOCKS: dict[str, tuple[str, ...]] = {
    "visitor": VISITOR,
    "agent": PERSON,
    "assigned_agent": PERSON,
    "agents[]": PERSON,
    "department": ("id", "name"),
    "session": SESSION,
    "page": ("url", "title"),
    "analytics": ("ga", "ym"),
    "organization": ("id", "name"),
    "tags[]": ("id", "title"),
    "status": ("id", "title"),
    "topic": ("topic_id", "title", "parent_id"),
    "call": ("type", "phone", "status", "record_url", "reason"),
    "chat": (
        "messages",
        "messages[].timestamp",
        "messages[].type",
        "messages[].agent_id",
        "messages[].message",
        "rate",
        "blacklisted",
        "invitation",
    ),
}

COMMON = ("event_name", "widget_id", "user_token", "visitor", "session", "page")

EVENTS: dict[str, tuple[str, ...]] = {
    "call_event": (*COMMON, "chat_id", "agent", "department", "analytics", "topic", "call"),
    "chat_accepted": (*COMMON, "chat_id", "agent", "department", "analytics"),
    "chat_assigned": (*COMMON, "chat_id", "assign_to", "agent", "assigned_agent", "department"),
    "chat_updated": (*COMMON, "chat_id", "agent", "department", "analytics"),
    "chat_finished": (
        *COMMON,
        "chat_id",
        "agents[]",
        "department",
        "analytics",
        "chat",
        "plain_messages",
        "html_messages",
    ),
    "offline_message": (*COMMON, "chat_id", "offline_message_id", "message", "analytics"),
    "client_updated": (
        *COMMON,
        "chat_id",
        "client_id",
        "message",
        "assigned_agent",
        "tags[]",
        "status",
        "organization",
    ),
}

# The replies Jivo reads: only these triggers may carry a jivo_reply step.
REPLY_EVENTS = frozenset({"chat_accepted", "chat_updated"})

# Computed by jivocrm, present on every event (None where the payload has nothing to offer).
COMPUTED: dict[str, str] = {
    "operator": "the agent who handled the event: agent, assigned_agent or the first of agents",
    "operator.id": "the operator's Jivo id (text)",
    "operator.name": "the operator's name",
    "operator.email": "the operator's e-mail (their Jivo login)",
    "operator.phone": "the operator's phone",
    "transcript": "chat_finished: the messages as readable text, one line each",
    "phone": "the visitor's phone (or the call's) in E.164, e.g. +79161234567",
    "email": "the visitor's e-mail in lower case",
    "chat": "chat_finished: the chat block (messages, rate, …)",
}


def _expand(key: str) -> Iterable[str]:
    yield key
    for sub in BLOCKS.get(key, ()):
        yield f"{key}.{sub}"


def fields(event: str) -> frozenset[str]:
    """Every path (``[]`` for list items) that events of this type may carry, computed included."""
    out: set[str] = set(COMPUTED)
    for key in EVENTS[event]:
        out.update(_expand(key))
    return frozenset(out)


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


def known(event: str, path: str) -> bool:
    """Whether ``path`` exists in ``event``; anything below an open-ended object counts too."""
    norm = normalize_path(path)
    catalogue = fields(event)
    if norm in catalogue:
        return True
    # Paths below free-form objects (visitor.social.*, utm_json.*) are the visitor's data.
    return any(norm.startswith(prefix + ".") for prefix in ("visitor.social", "analytics"))


# What each raw field means, for the reference.
MEANING: dict[str, str] = {
    "event_name": "the event type",
    "chat_id": "the chat's id (a number; text in some payloads); absent in offline messages",
    "widget_id": "the channel's public id from the widget code",
    "user_token": "the site's own visitor id set with jivo_api.setUserToken (not a secret)",
    "visitor": "the visitor: name, email, phone, number, description, social, chats_count",
    "agent": "the agent (operator): id, name, email, phone",
    "assigned_agent": "the agent assigned to the client (client_updated, chat_assigned)",
    "agents[]": "every agent who took part in the chat (chat_finished)",
    "department": "the department the visitor chose: id, name",
    "session": "geoip (country, region, city, …), utm (pipe-joined), utm_json, ip_addr, user_agent",
    "page": "the page the visitor is on: url, title",
    "analytics": "client ids of Google Analytics (ga) and Yandex.Metrica (ym)",
    "organization": "the organization the client belongs to: id, name",
    "tags[]": "the client's tags: id, title",
    "status": "the client's status: id, title (e.g. contact_later)",
    "topic": "the call's topic: topic_id, title, parent_id",
    "call": "type (callback|incoming|outgoing), phone, status (start|end|agent_connected|"
    "client_connected|error), record_url, reason",
    "chat": "messages[] (timestamp, type visitor|agent, agent_id, message), rate, blacklisted, "
    "invitation",
    "plain_messages": "a pre-rendered transcript when Jivo sends one (may be null)",
    "html_messages": "the same in HTML (may be null)",
    "offline_message_id": "the offline message's id (number or text)",
    "message": "the visitor's message (offline_message) or a note (client_updated)",
    "assign_to": "the CRM link the chat was bound to (the crm_link of the chat_accepted reply)",
    "client_id": "the client's id in Jivo",
}
