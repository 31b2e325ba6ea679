"""Every Jivo sample event, and variants with drifting id types, nulls and missing keys, runs
through a project on both emulators without error, leaving exactly the promised records."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from engine_project import bundle, entities, opened, write_project

from jivocrm import samples
from jivocrm.engine.process import process_event

EVENTS = [name for name in samples.names() if not name.endswith(samples.NO_CONTACTS)]
# The project below creates a contact and a deal on these events and nothing on the others.
CREATING = {"chat_accepted", "chat_finished", "offline_message", "call_event"}
OPTIONAL = (
    *("session", "page", "department", "analytics", "agent", "agents", "user_token", "chat"),
    *("organization", "status", "assigned_agent", "tags", "topic", "attributes"),
)


def swap_ids(data: dict[str, Any]) -> dict[str, Any]:
    """int ids as text and text ids as int, as the libraries disagree."""
    out = copy.deepcopy(data)

    def flip(value: Any) -> Any:
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    for key in ("chat_id", "offline_message_id", "client_id"):
        if key in out:
            out[key] = flip(out[key])
    for person in [out.get("agent"), out.get("assigned_agent"), *(out.get("agents") or [])]:
        if isinstance(person, dict):
            person["id"] = flip(person.get("id"))
    if isinstance(out.get("visitor"), dict):
        out["visitor"]["number"] = flip(out["visitor"].get("number"))
    return out


def with_nulls(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for key in OPTIONAL:
        if key in out:
            out[key] = None
    if "visitor" in out:  # client_attribute_updated has none
        out["visitor"] = {**out["visitor"], "email": None, "description": None, "social": None}
    return out


def missing(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in OPTIONAL}
    if "visitor" in data:
        out["visitor"] = {"phone": data["visitor"]["phone"]}
    return out


VARIANTS = {"as is": lambda d: d, "ids swapped": swap_ids, "nulls": with_nulls, "missing": missing}


def project_bundles(conn: str) -> dict[str, str]:
    return {f"{conn}-{event}": bundle(conn, event=event) for event in sorted(CREATING)}


@pytest.mark.parametrize("conn", ["amo", "b24"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("event", EVENTS)
async def test_sample_runs_and_leaves_the_promised_records(
    tmp_path: Path, conn: str, variant: str, event: str
) -> None:
    project = write_project(tmp_path, project_bundles(conn))
    payload = VARIANTS[variant](samples.load(event))
    async with opened(project, tmp_path) as conns:
        report = await process_event(project, payload, conns, conns.caches)
        state = entities(project, conns, conn)
    errors = [r.outcome.error for r in report.runs if r.outcome and r.outcome.error]
    assert errors == []
    assert report.reply["result"] == "ok"
    expected = 1 if event in CREATING else 0
    assert len(state["contacts"]) == expected
    assert len(state["deals"]) == expected
    if expected:
        (contact,), (deal,) = state["contacts"], state["deals"]
        assert deal["contacts"] == [contact["id"]]
        assert contact["phones"] != []


PROMISED = {  # (contacts, deals) the default bundles make for a visitor with a phone
    "chat_accepted": (1, 0),
    "chat_finished": (1, 1),
    "offline_message": (1, 0),
    "call_event": (1, 0),
    "chat_updated": (1, 0),
    "chat_assigned": (0, 0),
    "client_updated": (0, 0),
    "client_attribute_updated": (0, 0),
}


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("event", EVENTS)
async def test_default_projects_from_init_keep_their_promises(
    tmp_path: Path, crm: str, variant: str, event: str
) -> None:
    from click.testing import CliRunner

    from jivocrm.cli import cli
    from jivocrm.engine.project import load_project

    target = tmp_path / crm
    result = CliRunner().invoke(cli, ["init", str(target), "--crm", crm, "--emulate"])
    assert result.exit_code == 0, result.output
    project, problems = load_project(target)
    assert project is not None, problems
    (conn,) = project.connections
    payload = VARIANTS[variant](samples.load(event))
    async with opened(project, tmp_path, {conn: {"contacts": []}}) as conns:
        report = await process_event(project, payload, conns, conns.caches)
        state = entities(project, conns, conn)
    errors = [r.outcome.error for r in report.runs if r.outcome and r.outcome.error]
    assert errors == []
    contacts, deals = PROMISED[event]
    assert len(state["contacts"]) == contacts
    assert len(state["deals"]) == deals
    if deals:
        assert state["deals"][0]["contacts"] == [state["contacts"][0]["id"]]
