"""The emulator's CRM record methods: ``crm.{contact,deal,lead}.{add,update,get,list,fields}``.

A handler takes the portal state, the call's parameters and the caller, and returns the ``result``
value, or a ``Listing`` that the HTTP layer pages by ``start`` with ``total``/``next``.
Parameters arrive from JSON bodies or PHP-style query strings (batch commands), so every scalar
may be a string and every array may be a map with numeric keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jivocrm.connectors.bitrix24.emulator_state import Caller, PortalState, communication, invalid
from jivocrm.core.phones import normalize_email


@dataclass
class Listing:
    items: list[Any]
    key: str | None = None  # crm.category.list wraps its page: {"categories": [...]}
    paged: bool = True  # crm.status.list answers every entry at once, with `total`


Handler = Callable[[PortalState, dict[str, Any], Caller], Any]
LEAD_STATUSES = ("NEW", "IN_PROCESS", "PROCESSED", "JUNK", "CONVERTED")


def param(params: dict[str, Any], name: str, default: Any = None) -> Any:
    """Bitrix24 reads parameter names case-insensitively (``filter`` and ``FILTER`` alike)."""
    for key, value in params.items():
        if key.lower() == name.lower():
            return value
    return default


def as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list | tuple) else [value]


def as_int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Parameter '{what}' must be an integer.") from None


def _fields(params: dict[str, Any]) -> dict[str, Any]:
    fields = param(params, "fields")
    if not isinstance(fields, dict):
        raise invalid("Parameter 'fields' must be array.")
    return fields


def _record(state: PortalState, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    entity_id = as_int(param(params, "id"), "id")
    record = state.entities[kind].get(entity_id)
    if record is None:
        raise invalid("Not found")
    return record


def _check_multifields(fields: dict[str, Any]) -> None:
    for item in as_list(fields.get("EMAIL")):
        if isinstance(item, dict) and item.get("VALUE") and not normalize_email(item["VALUE"]):
            raise invalid("The field Work e-mail contains an invalid address")


def _write(state: PortalState, kind: str, record: dict[str, Any], fields: dict[str, Any]) -> None:
    """Apply ``fields`` to a record. Quirk kept from Bitrix24: a multifield item without ``ID``
    is appended (not a replacement); with ``ID`` it changes that item, or deletes it when empty."""
    _check_multifields(fields)
    known_custom = state.fields[kind]
    for name, value in fields.items():
        if name in ("PHONE", "EMAIL", "WEB", "IM"):
            items = record.setdefault(name, [])
            for item in as_list(value):
                if not isinstance(item, dict):
                    continue
                if item.get("ID"):
                    items[:] = [i for i in items if i["ID"] != str(item["ID"]) or item.get("VALUE")]
                    for i in items:
                        if i["ID"] == str(item["ID"]):
                            i["VALUE"] = str(item["VALUE"])
                elif item.get("VALUE"):
                    items.append(state.multifield_item(name, item))
        elif name.startswith("UF_") and name not in known_custom:
            continue  # Bitrix24 drops unknown user fields silently
        elif name == "CONTACT_IDS":
            record[name] = [int(v) for v in as_list(value) if str(v).isdigit()]
        elif name == "ID":
            continue
        else:
            record[name] = value


def adder(kind: str) -> Handler:
    def add(state: PortalState, params: dict[str, Any], caller: Caller) -> int:
        fields = _fields(params)
        record: dict[str, Any] = {
            "ASSIGNED_BY_ID": caller.user_id,
            "DATE_CREATE": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        if kind == "deal":
            category = as_int(fields.get("CATEGORY_ID", 0) or 0, "CATEGORY_ID")
            stages = [s["STATUS_ID"] for s in state.stages(category)]
            stage = fields.get("STAGE_ID") or stages[0]
            if stage not in stages:
                raise invalid(f"Stage {stage} does not belong to the funnel {category}")
            fields = {**fields, "CATEGORY_ID": category, "STAGE_ID": stage}
            if "CONTACT_ID" in fields and "CONTACT_IDS" not in fields:
                fields["CONTACT_IDS"] = [fields["CONTACT_ID"]]
        if kind == "lead":
            status = fields.get("STATUS_ID") or "NEW"
            if status not in LEAD_STATUSES:
                raise invalid(f"Status {status} not found")
            fields = {**fields, "STATUS_ID": status}
        if kind == "contact" and not any(fields.get(k) for k in ("NAME", "LAST_NAME")):
            fields = {**fields, "NAME": "Без имени"}
        record["ID"] = state.new_id()
        _write(state, kind, record, fields)
        return state.store(kind, record)

    return add


def updater(kind: str) -> Handler:
    def update(state: PortalState, params: dict[str, Any], caller: Caller) -> bool:
        record = _record(state, kind, params)
        fields = _fields(params)
        if kind == "deal" and "STAGE_ID" in fields:
            stages = [s["STATUS_ID"] for s in state.stages(int(record["CATEGORY_ID"]))]
            if fields["STAGE_ID"] not in stages:
                raise invalid(f"Stage {fields['STAGE_ID']} does not belong to the funnel")
        _write(state, kind, record, fields)
        return True

    return update


def _shown(state: PortalState, kind: str, record: dict[str, Any], select: list[str]) -> Any:
    """A record as list/get answer it: ids as strings; multifields only when selected by name."""
    everything = not select or "*" in select
    shown: dict[str, Any] = {}
    for name, value in record.items():
        multi = name in ("PHONE", "EMAIL", "WEB", "IM")
        custom = name.startswith("UF_")
        wanted = name in select or (everything and not multi and not custom)
        if custom and "UF_*" in select:
            wanted = True
        if name == "CONTACT_IDS" and kind == "deal":
            # The docs: a deal's contact list is not in crm.deal.get or crm.deal.list.
            wanted = False
        if wanted and not (multi and not value):
            shown[name] = _wire(value)
    if kind == "deal" and (everything or "STAGE_SEMANTIC_ID" in select):
        shown["STAGE_SEMANTIC_ID"] = state.stage_semantics(str(record.get("STAGE_ID")))
    if kind == "deal" and (everything or "CONTACT_ID" in select):
        contacts = record.get("CONTACT_IDS") or []
        shown["CONTACT_ID"] = str(contacts[0]) if contacts else None
    return shown


def _wire(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def getter(kind: str) -> Handler:
    def get(state: PortalState, params: dict[str, Any], caller: Caller) -> Any:
        return _shown(state, kind, _record(state, kind, params), ["*", "UF_*", "PHONE", "EMAIL"])

    return get


def _matches(state: PortalState, kind: str, record: dict[str, Any], flt: dict[str, Any]) -> bool:
    for raw_key, expected in flt.items():
        key = raw_key.lstrip("=!@<>%")
        op = raw_key[: len(raw_key) - len(key)]
        if key in ("PHONE", "EMAIL"):
            # Multiple fields filter by exact value only (no LIKE), as the docs say.
            stored = {communication(key, str(i.get("VALUE"))) for i in record.get(key) or []}
            asked = {communication(key, str(v)) for v in as_list(expected)}
            if bool(stored & asked) == (op == "!"):
                return False
            continue
        if key == "STAGE_SEMANTIC_ID":
            actual: Any = state.stage_semantics(str(record.get("STAGE_ID")))
        elif key == "CONTACT_ID" and kind == "deal":
            # Quirk: on a real portal this filter finds the deals whose *primary* contact it is
            # (github.com/bitrix-tools/b24-rest-docs/issues/73), not every linked one.
            actual = (record.get("CONTACT_IDS") or [None])[0]
        else:
            actual = record.get(key)
        wanted = {str(v) for v in as_list(expected)} if op == "@" or not _scalar(expected) else None
        values = [str(v) for v in actual] if isinstance(actual, list) else [str(actual)]
        if wanted is None:
            wanted = {str(expected)}
        if op == "%":
            hit = any(str(expected).lower() in v.lower() for v in values)
        else:
            hit = any(v in wanted for v in values)
        if hit == (op == "!"):
            return False
    return True


def _scalar(value: Any) -> bool:
    return not isinstance(value, list | dict | tuple)


def lister(kind: str) -> Handler:
    def list_(state: PortalState, params: dict[str, Any], caller: Caller) -> Listing:
        flt = param(params, "filter") or {}
        flt = flt if isinstance(flt, dict) else {}
        select = [str(s) for s in as_list(param(params, "select"))]
        order = param(params, "order") or {}
        descending = isinstance(order, dict) and str(order.get("ID", "ASC")).upper() == "DESC"
        records = [r for r in state.entities[kind].values() if _matches(state, kind, r, flt)]
        records.sort(key=lambda r: int(r["ID"]), reverse=descending)
        return Listing([_shown(state, kind, r, select) for r in records])

    return list_


def describer(kind: str) -> Handler:
    standard = {
        "contact": ("ID", "NAME", "LAST_NAME", "ASSIGNED_BY_ID", "PHONE", "EMAIL", "COMMENTS"),
        "deal": ("ID", "TITLE", "CATEGORY_ID", "STAGE_ID", "OPPORTUNITY", "CONTACT_IDS"),
        "lead": ("ID", "TITLE", "NAME", "LAST_NAME", "STATUS_ID", "SOURCE_ID", "PHONE", "EMAIL"),
    }[kind]

    def fields(state: PortalState, params: dict[str, Any], caller: Caller) -> dict[str, Any]:
        described: dict[str, Any] = {
            name: {
                "type": "crm_multifield" if name in ("PHONE", "EMAIL") else "string",
                "isRequired": False,
                "isReadOnly": name == "ID",
                "title": name,
            }
            for name in standard
        }
        for code, spec in state.fields[kind].items():
            label = spec.get("label", code)
            described[code] = {
                "type": spec.get("type", "string"),
                "isRequired": False,
                "isReadOnly": False,
                "isMultiple": bool(spec.get("multiple", False)),
                # Quirk: for user fields `title` is the code; the name is in the labels.
                "title": code,
                "listLabel": label,
                "formLabel": label,
                "filterLabel": label,
                **({"items": spec["items"]} if spec.get("items") else {}),
            }
        return described

    return fields
