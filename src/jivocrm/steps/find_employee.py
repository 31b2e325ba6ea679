"""find_employee: the operator who handled the chat → the CRM user, for "responsible" fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.connectors.spec import USERS
from jivocrm.core.i18n import Text
from jivocrm.steps import resolve
from jivocrm.steps.base import NAME_OR_ID, TEXT, CrmNames, StepContext, StepResult, StepSpec


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    login = params.get("login")
    if not resolve.blank(login):
        wanted = str(login).strip().casefold()
        # Jivo logins are e-mails; CRM users are matched by e-mail, ignoring case.
        listed = await resolve.users(ctx)
        found = next((u for u in listed if u.email and u.email.strip().casefold() == wanted), None)
        if found is not None:
            said = Text("{login} is CRM user {id}", login=login, id=found.id)
            return StepResult("ok", _output(found, True), said)
    default = params.get("default")
    fallback = await resolve.user(ctx, default, "default")
    if fallback is None:
        return StepResult(
            "ok",
            {"id": None, "name": None, "email": None, "found": False},
            Text(
                "no CRM user with login {login} and no default: the CRM picks the responsible",
                login=repr(login),
            ),
        )
    return StepResult(
        "ok",
        _output(fallback, False),
        Text(
            "no CRM user with login {login}; default {name}", login=repr(login), name=fallback.name
        ),
    )


def _output(user: Any, found: bool) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "email": user.email, "found": found}


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
    needs=USERS,
    names=CrmNames(users=(("default",),)),
)
