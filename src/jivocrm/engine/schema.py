"""The project and bundle JSON Schemas, composed from the static files and the registries."""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

from jivocrm.connectors import CONNECTORS
from jivocrm.engine.catalogue import EVENTS
from jivocrm.engine.filters_ops import OPS
from jivocrm.steps import STEPS
from jivocrm.steps.base import StepSpec

COMMON_STEP_KEYS = ("id", "type", "description", "connection", "when", "on_error")


def _static(name: str) -> dict[str, Any]:
    text = resources.files("jivocrm.schemas").joinpath(name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@functools.cache
def step_schemas() -> dict[str, dict[str, Any]]:
    return {name: step_schema(spec) for name, spec in STEPS.items()}


def step_schema(spec: StepSpec) -> dict[str, Any]:
    """The full schema of one step of type ``spec.type`` (common keys included)."""
    common = _static("bundle.schema.json")["$defs"]["step"]["properties"]
    props = {key: common[key] for key in COMMON_STEP_KEYS}
    props["type"] = {"const": spec.type}
    props.update(copy.deepcopy(dict(spec.params)))
    required = ["id", "type", *spec.required]
    if spec.needs is not None:
        required.append("connection")
    return {
        "type": "object",
        "description": spec.description,
        "additionalProperties": False,
        "properties": props,
        "required": required,
    }


@functools.cache
def bundle_schema() -> dict[str, Any]:
    schema = _static("bundle.schema.json")
    schema["properties"]["trigger"]["properties"]["event"]["enum"] = sorted(EVENTS)
    schema["$defs"]["condition"]["properties"]["op"]["enum"] = list(OPS)
    schema["$defs"]["step"]["properties"]["type"]["enum"] = list(STEPS)
    # For editors: each step type's own keys, selected by `type`.
    schema["$defs"]["step"]["allOf"] = [
        {"if": {"properties": {"type": {"const": name}}}, "then": {"$ref": f"#/$defs/step_{name}"}}
        for name in STEPS
    ]
    for name, spec in STEPS.items():
        schema["$defs"][f"step_{name}"] = step_schema(spec)
    return schema


@functools.cache
def skeleton_bundle_schema() -> dict[str, Any]:
    """Phase one of validation: the bundle without the per-type step keys."""
    schema = copy.deepcopy(bundle_schema())
    step = schema["$defs"]["step"]
    step.pop("allOf")
    for name in STEPS:
        schema["$defs"].pop(f"step_{name}")
    return schema


@functools.cache
def connection_schema(kind: str) -> dict[str, Any]:
    spec = CONNECTORS[kind]
    body = copy.deepcopy(dict(spec.schema))
    body.setdefault("properties", {})["type"] = {"const": kind}
    return body


@functools.cache
def project_schema() -> dict[str, Any]:
    schema = _static("project.schema.json")
    schema["$defs"]["connection"] = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(CONNECTORS)}},
        "allOf": [
            {"if": {"properties": {"type": {"const": kind}}}, "then": {"$ref": f"#/$defs/{kind}"}}
            for kind in CONNECTORS
        ],
    }
    for kind in CONNECTORS:
        schema["$defs"][kind] = connection_schema(kind)
    return schema


@functools.cache
def skeleton_project_schema() -> dict[str, Any]:
    schema = copy.deepcopy(project_schema())
    schema["$defs"]["connection"].pop("allOf")
    for kind in CONNECTORS:
        schema["$defs"].pop(kind)
    return schema
