"""Which writes wait for a later step: a chain (contact → deal → note) only where the CRM takes
a run's writes in one request, and never past a step that needs the waiting record's id."""

from __future__ import annotations

from typing import Any

from jivocrm.engine.deferral import Deferral, plan_deferrals
from jivocrm.engine.model import Bundle, Step


def _step(n: int, id: str, type: str, **params: Any) -> Step:
    return Step(id, type, n, params, connection="crm")


def _bundle(note_text: str = "{{ event.transcript }}") -> Bundle:
    steps = (
        _step(0, "contact", "new_contact", fields={"name": "{{ event.visitor.name }}"}),
        _step(1, "deal", "new_deal", fields={"name": "x", "contact": "{{ steps.contact.id }}"}),
        _step(
            2,
            "note",
            "add_note",
            entity={"type": "deal", "id": "{{ steps.deal.id }}"},
            text=note_text,
        ),
    )
    return Bundle("b", "b.yaml", "chat_finished", steps)


def test_the_note_takes_the_deal_only_where_the_crm_chains_writes() -> None:
    chained = plan_deferrals(_bundle(), {}, set(), lambda step, capability: True)
    assert chained == {
        "contact": Deferral("contact", "deal"),
        "deal": Deferral("deal", "note"),
    }
    assert plan_deferrals(_bundle(), {}, set(), lambda step, capability: False) == {
        "contact": Deferral("contact", "deal")
    }
    assert plan_deferrals(_bundle(), {}, set()) == {"contact": Deferral("contact", "deal")}


def test_no_chain_when_the_note_reads_the_contact_that_would_still_wait() -> None:
    plans = plan_deferrals(_bundle("{{ steps.contact.url }}"), {}, set(), lambda s, c: True)
    assert plans == {"contact": Deferral("contact", "deal")}


def test_no_chain_when_the_note_reads_more_of_the_deal_than_its_id() -> None:
    plans = plan_deferrals(_bundle("see {{ steps.deal.url }}"), {}, set(), lambda s, c: True)
    assert plans == {"contact": Deferral("contact", "deal")}


def test_a_resumed_note_takes_nothing() -> None:
    plans = plan_deferrals(_bundle(), {}, {"note"}, lambda s, c: True)
    assert plans == {"contact": Deferral("contact", "deal")}
