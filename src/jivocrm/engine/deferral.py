"""Which steps may leave their write to a later step that makes both in one CRM call.

A new visitor should cost one search and one write: a CRM that can create a deal with its new
contact in one request gets both at once. Steps say what they can do (``StepSpec.writes_pending``
on the step whose write may wait, ``StepSpec.takes_pending`` on the one that takes it over). The
runner may only hand the write over when nothing between the two steps needs the first one's id,
so the plan is made statically from the bundle: the later step's ``fields.<takes_pending>`` is
exactly ``{{ steps.<first>.id }}``, both use the same connection, and no other template from the
first step up to the later one mentions ``steps.<first>``.
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
    contact: str  # the step whose write waits
    deal: str  # the later step that writes both


def _mentions(value: Any, step_id: str) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    pattern = rf"steps\s*(\.\s*{step_id}\b|\[\s*\\?['\"]{step_id}\\?['\"]\s*\])"
    return re.search(pattern, text) is not None


def _links_only_id(deal: Step, contact: str, key: str) -> bool:
    fields = deal.params.get("fields")
    if not isinstance(fields, dict):
        return False
    link = fields.get(key)
    exact = rf"^\s*\{{\{{\s*steps\.{contact}\.id\s*\}}\}}\s*$"
    if not isinstance(link, str) or re.match(exact, link) is None:
        return False
    rest = {k: v for k, v in deal.params.items() if k != "fields"}
    rest["fields"] = {k: v for k, v in fields.items() if k != key}
    return not _mentions([rest, deal.when], contact)


def plan_deferrals(
    bundle: Bundle, done: Mapping[str, object], resumed: Collection[str]
) -> dict[str, Deferral]:
    """contact step id → its deferral, for the steps of ``bundle`` still to run."""
    from jivocrm.steps import STEPS

    plans: dict[str, Deferral] = {}
    steps = list(bundle.steps)
    for position, contact in enumerate(steps):
        spec = STEPS.get(contact.type)
        if spec is None or spec.writes_pending is None:
            continue
        if contact.id in done or contact.id in resumed:
            continue
        for later in steps[position + 1 :]:
            key = STEPS[later.type].takes_pending if later.type in STEPS else None
            if (
                key is not None
                and later.connection == contact.connection
                and later.id not in done
                and _links_only_id(later, contact.id, key)
            ):
                plans[contact.id] = Deferral(contact.id, later.id)
                break
            if _mentions([later.params, later.when], contact.id):
                break  # someone needs the contact's id before any deal step could make it
    return plans


__all__ = ["Deferral", "plan_deferrals"]
