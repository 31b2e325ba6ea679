"""The runner over an in-memory connector: order, when, errors, resume, deferral, dry run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jivocrm.core.errors import FatalError, RetriableError
from jivocrm.core.records import MemoryJournal, StepRecord
from jivocrm.engine.events import parse_event
from jivocrm.engine.model import Bundle, Project, Step
from jivocrm.engine.runner import Runner
from jivocrm.testing.fake import FakeConnector

EVENT = parse_event(
    {
        "event_name": "chat_accepted",
        "chat_id": 58213,
        "widget_id": "w1",
        "visitor": {"name": "Анна", "phone": "8 (916) 123-45-67", "email": "Anna@Mail.ru"},
        "agent": {"id": 1, "name": "Ольга", "email": "O.Petrova@shop-example.ru"},
    }
)


def bundle(*steps: dict[str, Any]) -> Bundle:
    made = []
    for index, raw in enumerate(steps):
        common = {"id", "type", "connection", "when", "on_error"}
        made.append(
            Step(
                id=raw["id"],
                type=raw["type"],
                index=index,
                params={k: v for k, v in raw.items() if k not in common},
                connection=raw.get("connection"),
                when=raw.get("when"),
                on_error=raw.get("on_error", "fail"),
            )
        )
    return Bundle("b", "bundles/b.yaml", "chat_accepted", tuple(made), version_hash="v1")


PROJECT = Project(
    root=Path("."), file=Path("jivocrm.yaml"), bundles=(), channels={}, connections={}
)
OPERATOR = {
    "id": "operator",
    "type": "find_employee",
    "connection": "amo",
    "login": "{{ event.operator.email }}",
}
CONTACT = {
    "id": "contact",
    "type": "new_contact",
    "connection": "amo",
    "fields": {
        "name": "{{ event.visitor.name }}",
        "phone": "{{ event.visitor.phone }}",
        "email": "{{ event.visitor.email }}",
        "responsible": "{{ steps.operator.id if steps.operator is defined else none }}",
    },
    "duplicates": {"mode": "skip", "match": ["phone", "email"]},
}
DEAL = {
    "id": "deal",
    "type": "new_deal",
    "connection": "amo",
    "fields": {
        "name": "Чат #{{ event.chat_id }}",
        "contact": "{{ steps.contact.id }}",
        "pipeline": "Продажи",
        "stage": "Первичный контакт",
        "custom": {"Источник": "Сайт"},
    },
}
REPLY = {"id": "reply", "type": "jivo_reply", "crm_link": "{{ steps.deal.url }}"}


async def run(b: Bundle, fake: FakeConnector, **kw: Any) -> tuple[Any, MemoryJournal]:
    journal = MemoryJournal()
    outcome = await Runner(PROJECT, {"amo": fake}).execute(b, EVENT, journal=journal, **kw)
    return outcome, journal


async def test_new_visitor_makes_contact_and_deal_in_one_call() -> None:
    fake = FakeConnector()
    outcome, journal = await run(bundle(OPERATOR, CONTACT, DEAL, REPLY), fake)
    assert outcome.status == "succeeded", outcome.error
    # The fake searches one value per call, like amoCRM: phone, then e-mail.
    assert fake.calls == [
        "list_users",
        "find_contacts",
        "find_contacts",
        "fetch_metadata",
        "create_deal_with_contact",
    ]
    (contact,) = fake.crm.contacts.values()
    assert contact == {
        "name": "Анна",
        "phones": ["+79161234567"],
        "emails": ["anna@mail.ru"],
    }
    records = {r.step_id: r for r in outcome.steps}
    assert [r.step_id for r in outcome.steps] == ["operator", "contact", "deal", "reply"]
    assert records["contact"].output["created"] is True
    assert records["contact"].output["id"] in fake.crm.contacts
    deal = fake.crm.deals[records["deal"].output["id"]]
    assert deal["contact_id"] == records["contact"].output["id"]
    assert deal["pipeline_id"] == "10"
    assert deal["stage_id"] == "101"
    assert deal["custom"] == {"500": "Сайт"}
    assert journal.started == ["contact", "deal"]
    assert outcome.reply == {
        "result": "ok",
        "crm_link": f"https://fake.example/deal/{records['deal'].output['id']}",
    }


async def test_returning_visitor_is_found_and_the_second_run_is_cheaper() -> None:
    fake = FakeConnector()
    runner = Runner(PROJECT, {"amo": fake})
    b = bundle(OPERATOR, CONTACT, DEAL)
    await runner.execute(b, EVENT, journal=MemoryJournal())
    fake.calls.clear()
    outcome = await runner.execute(b, EVENT, journal=MemoryJournal())
    # users and metadata are cached per connection: only the search and the deal
    assert fake.calls == ["find_contacts", "create_deal"]
    assert len(fake.crm.contacts) == 1
    assert outcome.steps[1].output["matched_by"] == "phone"


async def test_when_false_skips_with_null_outputs() -> None:
    fake = FakeConnector()
    b = bundle(
        {**CONTACT, "when": "{{ event.visitor.phone == 'nobody' }}"},
        REPLY | {"crm_link": "{{ steps.contact.url }}"},
    )
    outcome, _ = await run(b, fake)
    assert outcome.status == "succeeded"
    assert outcome.steps[0].status == "skipped"
    assert outcome.steps[0].output["id"] is None
    assert fake.calls == []


async def test_retriable_error_asks_for_a_retry_and_keeps_finished_steps() -> None:
    fake = FakeConnector()
    fake.fail["create_deal_with_contact"] = RetriableError("503", retry_after=7)
    outcome, journal = await run(bundle(OPERATOR, CONTACT, DEAL), fake)
    assert outcome.status == "retry"
    assert outcome.retry_after == 7
    assert [r.step_id for r in journal.records] == ["operator", "deal"]
    assert journal.started == ["contact", "deal"]  # the contact is resumed next time
    # resume: operator done; contact and deal started without result
    done = {r.step_id: r for r in journal.records if r.finished}
    journal2 = MemoryJournal()
    outcome2 = await Runner(PROJECT, {"amo": fake}).execute(
        bundle(OPERATOR, CONTACT, DEAL),
        EVENT,
        journal=journal2,
        done=done,
        resumed={"contact", "deal"},
    )
    assert outcome2.status == "succeeded"
    assert len(fake.crm.contacts) == 1
    assert len(fake.crm.deals) == 1


async def test_fatal_error_fails_the_run_naming_the_step_and_the_contact_is_still_made() -> None:
    fake = FakeConnector()
    fake.fail["create_deal_with_contact"] = FatalError("validation: pipeline")
    outcome, _ = await run(bundle(OPERATOR, CONTACT, DEAL, REPLY), fake)
    assert outcome.status == "failed"
    assert outcome.error == "steps[2] (deal): validation: pipeline"
    assert outcome.error_kind == "fatal"
    assert len(fake.crm.contacts) == 1
    assert not fake.crm.deals
    assert [r.step_id for r in outcome.steps] == ["operator", "contact", "deal"]


async def test_on_error_continue_goes_on() -> None:
    fake = FakeConnector()
    bad = {**DEAL, "fields": {**DEAL["fields"], "pipeline": "Нет такой"}, "on_error": "continue"}
    outcome, _ = await run(
        bundle(CONTACT, bad, REPLY | {"crm_link": "{{ steps.contact.url }}"}), fake
    )
    assert outcome.status == "succeeded"
    assert outcome.steps[1].status == "failed"
    assert "no pipeline 'Нет такой'" in str(outcome.steps[1].error)
    assert outcome.reply is not None
    assert outcome.reply["crm_link"].startswith("https://fake")


async def test_template_error_names_field_and_step() -> None:
    fake = FakeConnector()
    b = bundle({**CONTACT, "fields": {"name": "{{ event.visitor.nick }}"}})
    outcome, _ = await run(b, fake)
    assert outcome.status == "failed"
    assert outcome.error_kind == "template"
    assert outcome.error is not None
    assert outcome.error.startswith("steps[0] (contact): field 'nick'")


async def test_done_steps_are_not_run_again_and_feed_templates() -> None:
    fake = FakeConnector()
    done = {"contact": StepRecord("contact", "ok", output={"id": "77", "url": "u"})}
    b = bundle(CONTACT, {**DEAL, "fields": {"name": "x", "contact": "{{ steps.contact.id }}"}})
    outcome, _ = await run(b, fake, done=done)
    assert fake.calls == ["create_deal"]
    assert [r.step_id for r in outcome.steps] == ["deal"]
    assert next(iter(fake.crm.deals.values()))["contact_id"] == "77"


async def test_resumed_create_mode_is_uncertain_but_creates() -> None:
    fake = FakeConnector()
    b = bundle({**CONTACT, "duplicates": {"mode": "create"}})
    outcome, _ = await run(b, fake, resumed={"contact"})
    assert outcome.steps[0].status == "uncertain"
    assert "duplicate" in str(outcome.steps[0].message)
    assert len(fake.crm.contacts) == 1


async def test_dry_run_reads_but_does_not_write() -> None:
    fake = FakeConnector()
    outcome, journal = await run(bundle(OPERATOR, CONTACT, DEAL, REPLY), fake, dry_run=True)
    assert outcome.status == "succeeded"
    assert "create_deal_with_contact" not in fake.calls
    assert "find_contacts" in fake.calls
    assert not fake.crm.contacts
    assert journal.started == []
    deal = outcome.steps[2]
    assert deal.output["id"] == "dry-run:new-deal"
    assert deal.would_send[0]["op"] == "create_deal_with_contact"
    assert outcome.steps[1].output["id"] == "dry-run:new-contact"


@pytest.mark.parametrize(
    ("mode", "contacts", "phones"),
    [
        ("skip", 1, ["+79161234567"]),
        ("update", 1, ["+79161234567", "+79160000000"]),
        ("create", 2, None),
    ],
)
async def test_duplicate_modes(mode: str, contacts: int, phones: list[str] | None) -> None:
    fake = FakeConnector()
    b = bundle({**CONTACT, "duplicates": {"mode": mode}})
    await run(b, fake)
    other = parse_event(
        {**EVENT.raw, "visitor": {"name": "Анна", "phone": "+7 916 123-45-67 ", "email": None}}
    )
    second = bundle(
        {
            **CONTACT,
            "duplicates": {"mode": mode},
            "fields": {
                **CONTACT["fields"],
                "phone": ["{{ event.visitor.phone }}", "+7 916 000 00 00"],
            },
        }
    )
    await Runner(PROJECT, {"amo": fake}).execute(second, other, journal=MemoryJournal())
    assert len(fake.crm.contacts) == contacts
    if phones:
        assert next(iter(fake.crm.contacts.values()))["phones"] == phones
