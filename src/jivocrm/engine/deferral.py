"""Which new_contact steps may leave their creation to a later new_deal step (one CRM call).

A new visitor should cost one search and one write: amoCRM creates a deal with a new contact in
one ``POST /leads/complex``, Bitrix24 in one ``batch``. The runner may only hand the contact over
when nothing between the two steps needs the contact's id, so the plan is made statically from
the bundle: the deal step's ``fields.contact`` is exactly ``{{ steps.<contact>.id }}``, both use
the same connection, and no other template from the contact step up to the deal step mentions
``steps.<contact>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from jivocrm.engine.model import Bundle, Step


@dataclass(frozen=True)
class Deferral:
    contact: str  # the new_contact step
    deal: str  # the new_deal step that creates both


def _mentions(value: Any, step_id: str) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    pattern = rf"steps\s*(\.\s*{step_id}\b|\[\s*\\?['\"]{step_id}\\?['\"]\s*\])"
    return re.search(pattern, text) is not None


def _links_only_id(deal: Step, contact: str) -> bool:
    fields = deal.params.get("fields")
    if not isinstance(fields, dict):
        return False
    link = fields.get("contact")
    exact = rf"^\s*\{{\{{\s*steps\.{contact}\.id\s*\}}\}}\s*$"
    if not isinstance(link, str) or re.match(exact, link) is None:
        return False
    rest = {k: v for k, v in deal.params.items() if k != "fields"}
    rest["fields"] = {k: v for k, v in fields.items() if k != "contact"}
    return not _mentions([rest, deal.when], contact)


def plan_deferrals(
    bundle: Bundle, done: Mapping[str, object], resumed: Collection[str]
) -> dict[str, Deferral]:
    """contact step id → its deferral, for the steps of ``bundle`` still to run."""
    plans: dict[str, Deferral] = {}
    steps = list(bundle.steps)
    for position, contact in enumerate(steps):
        if contact.type != "new_contact" or contact.id in done or contact.id in resumed:
            continue
        for later in steps[position + 1 :]:
            if (
                later.type == "new_deal"
                and later.connection == contact.connection
                and later.id not in done
                and _links_only_id(later, contact.id)
            ):
                plans[contact.id] = Deferral(contact.id, later.id)
                break
            if _mentions([later.params, later.when], contact.id):
                break  # someone needs the contact's id before any deal step could make it
    return plans


__all__ = ["Deferral", "plan_deferrals"]
