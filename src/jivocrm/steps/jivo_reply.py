"""jivo_reply: what the operator sees in Jivo — the CRM link, contact info, custom data, a page.

Jivo shows ``custom_data`` items as given (at most ten, tags in them escaped), ``contact_info`` as
if the visitor had typed it, ``crm_link`` as an "Открыть в CRM" button; a ``result`` other than
"ok" would hide everything, so the reply always says ok.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.core.values import truthy
from jivocrm.steps.base import VALUE, StepContext, StepResult, StepSpec


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    reply: dict[str, Any] = {}
    link = params.get("crm_link")
    if link:
        reply["crm_link"] = str(link)
    info = {
        k: str(v)
        for k, v in (params.get("contact_info") or {}).items()
        if v is not None and str(v).strip()
    }
    if info:
        reply["contact_info"] = info
    # Jivo shows custom_data items as they are: an item with empty content is only noise.
    items = []
    for item in params.get("custom_data") or []:
        clean = {k: str(v) for k, v in item.items() if v is not None and str(v).strip()}
        if clean.get("content"):
            items.append(clean)
    if items:
        reply["custom_data"] = items
    if "enable_assign" in params:
        reply["enable_assign"] = truthy(params["enable_assign"])
    page = {k: str(v) for k, v in (params.get("page") or {}).items() if not _empty(v)}
    if page.get("url"):
        reply["page"] = page
    return StepResult("ok", {"reply": reply})


def _empty(value: Any) -> bool:
    return value is None or not str(value).strip()


SPEC = StepSpec(
    type="jivo_reply",
    description=(
        "Answer Jivo's chat_accepted/chat_updated with a CRM link and data for the operator."
    ),
    params={
        "crm_link": VALUE,
        "contact_info": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"name": VALUE, "email": VALUE, "phone": VALUE, "description": VALUE},
        },
        "custom_data": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"title": VALUE, "content": VALUE, "link": VALUE, "key": VALUE},
                "required": ["content"],
            },
        },
        "enable_assign": {"type": ["boolean", "string"]},
        "page": {
            "type": "object",
            "description": "The page to show the operator: url (left out when empty), title.",
            "additionalProperties": False,
            "properties": {"url": VALUE, "title": VALUE},
        },
    },
    required=(),
    outputs={"reply": "the reply sent to Jivo"},
    example={
        "id": "reply",
        "type": "jivo_reply",
        "crm_link": "{{ steps.contact.url }}",
        "custom_data": [{"title": "Клиент в CRM", "content": "{{ event.visitor.name }}"}],
    },
    run=run,
    reply=True,
)
