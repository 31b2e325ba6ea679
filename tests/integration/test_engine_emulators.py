"""The engine against the amoCRM and Bitrix24 emulators over HTTP on port 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from engine_project import bundle, entities, opened, requests, write_project

from jivocrm import samples
from jivocrm.engine.process import process_event

CONNS = ["amo", "b24"]


def sample(event: str, **visitor: Any) -> dict[str, Any]:
    data: dict[str, Any] = samples.load(event)
    data["visitor"] = {**data["visitor"], **visitor}
    return data


@pytest.mark.parametrize("conn", CONNS)
@pytest.mark.parametrize(("mode", "count"), [("skip", 1), ("update", 1), ("create", 2)])
async def test_same_visitor_twice_with_the_phone_written_differently(
    tmp_path: Path, conn: str, mode: str, count: int
) -> None:
    project = write_project(tmp_path, {"b": bundle(conn, mode=mode)})
    first = sample("chat_accepted", phone="+7 926 111-22-33", email="visitor@mail.ru")
    second = sample("chat_accepted", phone="8 (926) 111 22 33", email="Second@Mail.ru")
    async with opened(project, tmp_path) as conns:
        for payload in (first, second):
            report = await process_event(project, payload, conns, conns.caches)
            assert report.ok, [r.outcome.error for r in report.runs if r.outcome]
        contacts = entities(project, conns, conn)["contacts"]
    assert len(contacts) == count
    assert all(c["phones"] == ["+79261112233"] for c in contacts)
    expected_emails = {
        "skip": [["visitor@mail.ru"]],
        "update": [["visitor@mail.ru", "second@mail.ru"]],
        "create": [["visitor@mail.ru"], ["second@mail.ru"]],
    }[mode]
    assert [c["emails"] for c in contacts] == expected_emails


async def _calls_per_run(tmp_path: Path, conn: str, match: str) -> tuple[int, int]:
    """(new visitor, returning visitor) CRM requests of one run, users and metadata cached."""
    project = write_project(tmp_path, {"b": bundle(conn, match=match, mode="skip")})
    async with opened(project, tmp_path) as conns:
        warm = sample("chat_accepted", phone="+79000000001", email="warm@x.ru")
        await process_event(project, warm, conns, conns.caches)
        counts = []
        for _ in range(2):  # the same new visitor twice: new, then returning
            before = requests(project, conns, conn)
            payload = sample("chat_accepted", phone="+79031234567", email="new@x.ru")
            report = await process_event(project, payload, conns, conns.caches)
            assert report.ok
            counts.append(requests(project, conns, conn) - before)
    return counts[0], counts[1]


async def test_calls_per_run_bitrix24(tmp_path: Path) -> None:
    # new: one batch of findbycomm (phone + e-mail) + one batch creating contact and deal;
    # returning: the search (its ids are all skip mode needs) and crm.deal.add
    assert await _calls_per_run(tmp_path, "b24", "[phone, email]") == (2, 2)


async def test_calls_per_run_amocrm(tmp_path: Path) -> None:
    # new: the search + POST /leads/complex; returning: the search + POST /leads
    assert await _calls_per_run(tmp_path, "amo", "[phone]") == (2, 2)


async def test_calls_per_run_amocrm_phone_and_email(tmp_path: Path) -> None:
    # amoCRM's `query` takes one value: a new visitor costs a search per field; a returning one
    # is found by the first (phone) and costs one search and the write
    assert await _calls_per_run(tmp_path, "amo", "[phone, email]") == (3, 2)


NOTE = """\
  - id: note
    type: add_note
    connection: {conn}
    entity: {{type: deal, id: "{{{{ steps.deal.id }}}}"}}
    text: "{{{{ event.transcript }}}}"
"""


@pytest.mark.parametrize("conn", CONNS)
async def test_visitor_text_reaches_the_crm_literally(tmp_path: Path, conn: str) -> None:
    project = write_project(
        tmp_path,
        {"b": bundle(conn, event="chat_finished", extra_steps=NOTE.format(conn=conn))},
    )
    payload = sample("chat_finished", name="{{ 7*7 }}")
    payload["chat"]["messages"][0]["message"] = "{{ 7*7 }} {% for x in range(9) %}x{% endfor %}"
    async with opened(project, tmp_path) as conns:
        report = await process_event(project, payload, conns, conns.caches)
        assert report.ok
        (contact,) = entities(project, conns, conn)["contacts"]
        deal_step = report.runs[0].outcome.steps[2] if report.runs[0].outcome else None
        assert deal_step is not None
        note_calls = report.runs[0].outcome.steps[3].calls if report.runs[0].outcome else []
    assert contact["name"] == "{{ 7*7 }}"
    # As the CRM decodes it: a Bitrix24 batch carries its commands as query strings.
    sent = unquote(json.dumps(note_calls[-1]["request"], ensure_ascii=False))
    assert "{{ 7*7 }} {% for x in range(9) %}x{% endfor %}" in sent
    assert "49" not in sent


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ event.__class__.__init__.__globals__ }}",
        "{{ 'a' * 50000000 }}",
    ],
)
async def test_template_escapes_fail_cleanly_and_nothing_is_written(
    tmp_path: Path, template: str
) -> None:
    project = write_project(tmp_path, {"b": bundle("amo")})
    # validate already refuses most of these; the sandbox is the line behind it, tested alone
    project.bundles[0].steps[1].params["fields"]["name"] = template
    async with opened(project, tmp_path) as conns:
        report = await process_event(project, sample("chat_accepted"), conns, conns.caches)
        state = entities(project, conns, "amo")
    outcome = report.runs[0].outcome
    assert outcome is not None
    assert outcome.status == "failed"
    assert outcome.error_kind == "template"
    assert str(outcome.error).startswith("steps[1] (contact): ")
    assert state["contacts"] == []
    assert state["deals"] == []


async def test_a_merge_by_amocrm_duplicate_control_is_reported_as_found(tmp_path: Path) -> None:
    """With duplicate control on for the integration, /leads/complex answers with the deal and
    contact amoCRM already had: the run says found, not created, and writes nothing new."""
    from jivocrm.connectors.amocrm.emulator_routes import STATE

    project = write_project(tmp_path, {"b": bundle("amo", mode="create", event="chat_finished")})
    known = {
        "amo": {
            "contacts": [{"id": 77, "name": "Анна", "phones": ["+79161234567"]}],
            "deals": [{"id": 88, "name": "Диван", "contact": 77}],
        }
    }
    async with opened(project, tmp_path, known) as conns:
        conns.emulators["amo"].app[STATE].faults.duplicate_control = True
        report = await process_event(project, samples.load("chat_finished"), conns, conns.caches)
        state = entities(project, conns, "amo")
    (run,) = [r.outcome for r in report.runs if r.outcome]
    assert run.status == "succeeded"
    steps = {s.step_id: s for s in run.steps}
    assert steps["deal"].output["id"] == "88"
    assert steps["deal"].output["created"] is False
    assert "duplicate control" in (steps["deal"].message or "")
    assert (steps["contact"].output["id"], steps["contact"].output["created"]) == ("77", False)
    assert [c["id"] for c in state["contacts"]] == ["77"]
    assert [d["id"] for d in state["deals"]] == ["88"]


LEAD_BUNDLE = """\
version: 1
name: lead
trigger: {event: chat_finished}
steps:
  - id: lead
    type: new_lead
    connection: b24
    fields:
      title: "Чат Jivo #{{ event.chat_id }}"
      name: "{{ event.visitor.name }}"
      phone: "{{ event.visitor.phone }}"
      email: "{{ event.visitor.email }}"
    duplicates: {mode: MODE, match: [phone, email]}
"""


@pytest.mark.parametrize(
    ("mode", "leads", "second"),
    [
        ("create", 2, {"created": True}),
        ("skip", 1, {"created": False, "matched_by": "phone"}),
        ("update", 1, {"created": False, "matched_by": "phone"}),
        ("update_only", 1, {"created": False, "matched_by": "phone"}),
    ],
)
async def test_leads_have_the_four_duplicate_modes(
    tmp_path: Path, mode: str, leads: int, second: dict[str, Any]
) -> None:
    """Bitrix24 finds the visitor's earlier lead by phone however the number was written."""
    project = write_project(tmp_path, {"lead": LEAD_BUNDLE.replace("MODE", mode)})
    first = sample("chat_finished", phone="+7 926 111-22-33", email=None)
    again = sample("chat_finished", phone="8 (926) 111-22-33", email="late@mail.ru")
    async with opened(project, tmp_path) as conns:
        if mode == "update_only":
            nothing = await process_event(project, first, conns, conns.caches)
            (run,) = [r.outcome for r in nothing.runs if r.outcome]
            assert run.steps[0].status == "skipped"
            from jivocrm.connectors.bitrix24.emulator import EMULATOR

            conns.emulators["b24"].app[EMULATOR].state.store(
                "lead", {"TITLE": "Раньше", "PHONE": [{"VALUE": "+79261112233"}]}
            )
        else:
            await process_event(project, first, conns, conns.caches)
        report = await process_event(project, again, conns, conns.caches)
        stored = entities(project, conns, "b24")["leads"]
    (run,) = [r.outcome for r in report.runs if r.outcome]
    assert run.status == "succeeded", run.error
    output = run.steps[0].output
    assert {k: output[k] for k in second} == second
    assert len(stored) == leads
    emails = [[e["VALUE"] for e in lead.get("EMAIL") or []] for lead in stored]
    assert (["late@mail.ru"] in emails) == (mode in ("create", "update", "update_only"))


@pytest.mark.parametrize("conn", CONNS)
async def test_a_list_field_value_outside_its_options_fails_with_the_options(
    tmp_path: Path, conn: str
) -> None:
    field = {"amo": "Источник", "b24": "Канал"}[conn]  # the emulators' list fields of deals
    source = "{{ event.visitor.description }}"  # rendered at run time: validate cannot see it
    name = '      name: "Чат Jivo #{{ event.chat_id }}"\n'
    custom = f'      custom: {{{field}: "{source}"}}\n'
    text = bundle(conn, event="chat_finished").replace(name, name + custom)
    project = write_project(tmp_path, {"b": text})
    async with opened(project, tmp_path) as conns:
        bad = await process_event(project, sample("chat_finished", description="Сайт 9"), conns)
        good = await process_event(project, sample("chat_finished", description="сайт 2"), conns)
        deals = entities(project, conns, conn)["deals"]
    (failed,) = [r.outcome for r in bad.runs if r.outcome]
    assert failed.status == "failed"
    assert f"'Сайт 9' is not an option of deal field '{field}'; it takes Сайт 1, Сайт 2" in (
        failed.error or ""
    )
    (ok,) = [r.outcome for r in good.runs if r.outcome]
    assert ok.status == "succeeded", ok.error
    assert len(deals) == 1
