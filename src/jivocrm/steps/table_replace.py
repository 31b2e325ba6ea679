"""table_replace: look a value up in a table, with a default (e.g. widget id → source name)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.core.i18n import Text
from jivocrm.steps.base import VALUE, StepContext, StepResult, StepSpec


async def run(ctx: StepContext, params: Mapping[str, Any]) -> StepResult:
    value = params.get("value")
    table = params.get("table") or {}
    # YAML keys are text while the value may be a number (a department id): compare as text.
    key = "" if value is None else str(value).strip()
    for candidate, replacement in table.items():
        if str(candidate).strip() == key:
            said = Text("{key} → {value}", key=repr(key), value=repr(replacement))
            return StepResult("ok", {"value": replacement}, said)
    default = params.get("default")
    said = Text("{key} is not in the table; default {value}", key=repr(key), value=repr(default))
    return StepResult("ok", {"value": default}, said)


SPEC = StepSpec(
    type="table_replace",
    description="Replace a value through a lookup table; `default` when it is not in the table.",
    params={
        "value": VALUE,
        "table": {"type": "object", "additionalProperties": VALUE},
        "default": VALUE,
    },
    required=("value", "table"),
    outputs={"value": "the replacement, or the default"},
    example={
        "id": "source",
        "type": "table_replace",
        "value": "{{ event.widget_id }}",
        "table": {"aB3dE5fGh7": "Сайт 1", "Kx81LmQ0pz": "Сайт 2"},
        "default": "Сайт 3",
    },
    run=run,
)
