"""Which steps may leave their write to a later step that makes both in one CRM call.

A new visitor should cost one search and one write: a CRM that can create a deal with its new
contact in one request gets both at once, and one that takes a run's writes in one request
(``CHAINED_WRITES``) gets the note on the deal in it too. Steps say what they can do
(``StepSpec.writes_pending`` on the step whose write may wait, ``StepSpec.takes_pending`` on the
one that takes it over, with the step type it takes from and the capability it needs). The
runner may only hand the write over when nothing between the two steps needs the first one's id,
so the plan is made statically from the bundle: the later step's ``takes_pending`` path is
exactly ``{{ steps.<first>.id }}``, both use the same connection, and no other template from the
first step up to the later one mentions ``steps.<first>``. A chain is planned link by link
(contact → deal → note).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from jivocrm.engine.model import Bundle, Step


@dataclass(frozen=True)
class Deferral:
    contact: str  # the step whose write waits (a contact; a deal in a chain)
    deal: str  # the later step that writes both (a deal; a note in a chain)


def _mentions(value: Any, step_id: str) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    pattern = rf"steps\s*(\.\s*{step_id}\b|\[\s*\\?['\"]{step_id}\\?['\"]\s*\])"
    return re.search(pattern, text) is not None


def _without(params: Mapping[str, Any], path: list[str]) -> Any:
    """``params`` without the value at ``path``."""
    if not path:
        return None
    head, *rest = path
    out = {k: v for k, v in params.items() if k != head}
    inner = params.get(head)
    if rest and isinstance(inner, Mapping):
        out[head] = _without(inner, rest)
    return out


def _links_only_id(later: Step, first: str, path: str) -> bool:
    link: Any = later.params
    for part in path.split("."):
        link = link.get(part) if isinstance(link, Mapping) else None
    exact = rf"^\s*\{{\{{\s*steps\.{first}\.id\s*\}}\}}\s*$"
    if not isinstance(link, str) or re.match(exact, link) is None:
        return False
    return not _mentions([_without(later.params, path.split(".")), later.when], first)


def plan_deferrals(
    bundle: Bundle,
    done: Mapping[str, object],
    resumed: Collection[str],
    able: Callable[[Step, str], bool] | None = None,
) -> dict[str, Deferral]:
    """step id → its deferral, for the steps of ``bundle`` still to run; ``able(step,
    capability)`` says whether the CRM of a step's connection has a capability (None: no
    hand-over that needs one)."""
    from jivocrm.steps import STEPS

    plans: dict[str, Deferral] = {}
    steps = list(bundle.steps)
    for position, first in enumerate(steps):
        spec = STEPS.get(first.type)
        if spec is None or spec.writes_pending is None:
            continue
        if first.id in done or first.id in resumed:
            continue
        for later in steps[position + 1 :]:
            taker = STEPS.get(later.type)
            if (
                taker is not None
                and taker.takes_pending is not None
                and taker.takes_pending_of in (None, first.type)
                and (
                    taker.takes_pending_needs is None
                    or (able is not None and able(later, taker.takes_pending_needs))
                )
                and later.connection == first.connection
                and later.id not in done
                and later.id not in resumed
                and _links_only_id(later, first.id, taker.takes_pending)
            ):
                plans[first.id] = Deferral(first.id, later.id)
                break
            if _mentions([later.params, later.when], first.id):
                break  # someone needs the first step's id before any later step could make it
    # A link whose first step carries an earlier one's pending write keeps that one pending
    # longer: up to the later step, nobody may read the earlier one either.
    index = {step.id: n for n, step in enumerate(steps)}
    for earlier in [p for p in plans.values() if p.deal in plans]:
        link = plans[earlier.deal]
        between = steps[index[link.contact] + 1 : index[link.deal] + 1]
        if any(_mentions([s.params, s.when], earlier.contact) for s in between):
            del plans[earlier.deal]
    return plans


__all__ = ["Deferral", "plan_deferrals"]
