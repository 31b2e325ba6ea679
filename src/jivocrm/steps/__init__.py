"""Step types. Adding one = a module with its ``SPEC`` plus one line in ``STEPS``."""

from __future__ import annotations

from jivocrm.steps import (
    add_note,
    find_employee,
    jivo_reply,
    new_contact,
    new_deal,
    new_lead,
    new_task,
    table_replace,
    unsorted_lead,
)
from jivocrm.steps.base import StepContext, StepResult, StepSpec

STEPS: dict[str, StepSpec] = {
    "find_employee": find_employee.SPEC,
    "table_replace": table_replace.SPEC,
    "new_contact": new_contact.SPEC,
    "new_deal": new_deal.SPEC,
    "new_lead": new_lead.SPEC,
    "new_task": new_task.SPEC,
    "add_note": add_note.SPEC,
    "unsorted_lead": unsorted_lead.SPEC,
    "jivo_reply": jivo_reply.SPEC,
}

__all__ = ["STEPS", "StepContext", "StepResult", "StepSpec"]
