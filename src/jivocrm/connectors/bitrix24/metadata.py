"""What a portal holds that bundles name: funnels and stages, users, custom (UF_CRM_*) fields of
contacts, deals and leads.

Two batches: funnels plus the three field lists, then every funnel's stages. Sorted by the
portal's own ``sort`` and then id, so a refresh shows as a readable diff.
"""

from __future__ import annotations

from typing import Any

from jivocrm.connectors.base import CrmUser, CustomField, EntityKind, Metadata, Pipeline, Stage
from jivocrm.connectors.bitrix24.rest import MAX_BATCH, Rest, as_items, as_map

STAGE_KIND = {"S": "won", "F": "lost", "success": "won", "failure": "lost"}


async def fetch_metadata(rest: Rest, users: list[CrmUser]) -> Metadata:
    first = await rest.batch(
        {
            "categories": ("crm.category.list", {"entityTypeId": 2}),
            "contact_fields": ("crm.contact.fields", {}),
            "deal_fields": ("crm.deal.fields", {}),
            "lead_fields": ("crm.lead.fields", {}),
        }
    )
    categories = as_items(as_map(first.get("categories")).get("categories"))
    if (start := first.following("categories")) is not None:
        categories += await rest.list_all(
            "crm.category.list", {"entityTypeId": 2}, key="categories", start=start
        )
    categories.sort(key=lambda c: (int(c.get("sort") or 0), int(c["id"])))

    stage_lists: dict[str, list[Any]] = {}
    for start in range(0, len(categories), MAX_BATCH):
        chunk = categories[start : start + MAX_BATCH]
        commands = {
            f"stages_{c['id']}": (
                "crm.status.list",
                {"filter": {"ENTITY_ID": _stage_entity(int(c["id"]))}},
            )
            for c in chunk
        }
        answer = await rest.batch(commands)
        for key, (method, params) in commands.items():
            stage_lists[key] = as_items(answer.get(key))
            if (start := answer.following(key)) is not None:
                stage_lists[key] += await rest.list_all(method, params, start=start)

    pipelines = tuple(
        Pipeline(
            id=str(c["id"]),
            name=str(c["name"]),
            stages=_stages(stage_lists.get(f"stages_{c['id']}", [])),
            is_main=str(c.get("isDefault")) == "Y",
        )
        for c in categories
    )
    fields = [
        field
        for entity in ("contact", "deal", "lead")
        for field in _custom_fields(entity, as_map(first.get(f"{entity}_fields")))
    ]
    return Metadata(
        pipelines=pipelines,
        users=tuple(sorted(users, key=lambda u: int(u.id) if u.id.isdigit() else 0)),
        custom_fields=tuple(fields),
    )


def _stage_entity(category_id: int) -> str:
    return "DEAL_STAGE" if category_id == 0 else f"DEAL_STAGE_{category_id}"


def _stages(items: list[Any]) -> tuple[Stage, ...]:
    ordered = sorted(items, key=lambda s: (int(s.get("SORT") or 0), str(s.get("STATUS_ID"))))
    return tuple(
        Stage(
            id=str(s["STATUS_ID"]),
            name=str(s.get("NAME") or s["STATUS_ID"]),
            kind=STAGE_KIND.get(
                str(s.get("SEMANTICS") or as_map(s.get("EXTRA")).get("SEMANTICS") or ""), "open"
            ),
        )
        for s in ordered
    )


def _custom_fields(entity: EntityKind, described: dict[str, Any]) -> list[CustomField]:
    fields = []
    for code, spec in sorted(described.items()):
        if not code.startswith("UF_CRM_"):
            continue
        spec = as_map(spec)
        # Quirk: for user fields `title` is the code itself; the name people see is a label.
        name = spec.get("formLabel") or spec.get("listLabel") or spec.get("title") or code
        fields.append(
            CustomField(
                id=code,
                name=str(name),
                entity=entity,
                code=code,
                type=spec.get("type"),
                enums=tuple(
                    (str(item.get("ID")), str(item.get("VALUE")))
                    for item in as_items(spec.get("items"))
                ),
            )
        )
    return fields
