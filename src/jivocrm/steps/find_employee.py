"""find_employee: the operator who handled the chat → the CRM user, for "responsible" fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.steps.base import NAME_OR_ID, TEXT, StepContext, StepResult, StepSpec


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    raise NotImplementedError


SPEC = StepSpec(
    type="find_employee",
    description="Find the CRM user whose login (e-mail) is the operator's; fall back to `default`.",
    params={
        "login": {**TEXT, "description": "The operator's login or e-mail, usually a template."},
        "default": {**NAME_OR_ID, "description": "User (name or id) when nobody matches."},
    },
    required=("login",),
    outputs={
        "id": "the CRM user's id",
        "name": "the user's name",
        "email": "the user's e-mail",
        "found": "true when the login matched, false when `default` was used",
    },
    example={
        "id": "operator",
        "type": "find_employee",
        "connection": "amo",
        "login": "{{ event.operator.email }}",
        "default": "Ольга Петрова",
    },
    run=run,
)
