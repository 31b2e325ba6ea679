"""The filter operators and whether each takes a ``value``."""

from __future__ import annotations

# op → "none" (no value), "one" (a value), "list" (a list of values), "pattern" (a regex)
OPS: dict[str, str] = {
    "equals": "one",
    "not_equals": "one",
    "empty": "none",
    "not_empty": "none",
    "in": "list",
    "not_in": "list",
    "contains": "one",
    "not_contains": "one",
    "starts_with": "one",
    "ends_with": "one",
    "matches": "pattern",
    "gt": "one",
    "gte": "one",
    "lt": "one",
    "lte": "one",
    "exists": "none",
}
