"""Whatever a bundle holds, validate answers with diagnostics, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jivocrm.engine.project import load_project

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["", "x", "chat_finished", "new_deal", "amo", "{{ event.visitor.email }}"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = ["version", "name", "trigger", "filter", "lane", "steps", "enabled"]


def bundle(parts: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": 1,
        "trigger": {"event": "chat_finished"},
        "steps": [{"id": "a", "type": "new_contact", "connection": "amo", "fields": {}}],
    }
    base.update(parts)
    if isinstance(base.get("steps"), list) and base["steps"]:
        base["steps"] = [*base["steps"], step]
    return base


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3),
    step=st.dictionaries(
        st.sampled_from(["id", "type", "connection", "when", "fields", "duplicates", "value"]),
        VALUES,
        max_size=4,
    ),
)
def test_any_bundle_gets_diagnostics_not_a_crash(
    tmp_path: Path, parts: dict[str, Any], step: dict[str, Any]
) -> None:
    (tmp_path / "bundles").mkdir(exist_ok=True)
    (tmp_path / "jivocrm.yaml").write_text(
        "version: 1\nconnections:\n  amo: {type: amocrm, subdomain: x, "
        "auth: {long_lived_token: '${T}'}}\n",
        "utf-8",
    )
    # JSON is YAML: any value hypothesis builds is a valid document.
    (tmp_path / "bundles" / "b.yaml").write_text(json.dumps(bundle(parts, step)), "utf-8")
    project, problems = load_project(tmp_path)
    assert project is not None or problems
