"""Every event Jivo documents, from the shipped sample built on its documented example, through a
validate-clean bundle that reads every documented field, on both CRMs' emulators.

The bundle is written from the catalogue: one note line per documented field, with a default
exactly where validate asks for one. So the catalogue, validate's "can be missing" rule, the
samples and parsing are checked against each other, and every value reaches the CRM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_project import opened, write_project

from jivocrm import samples
from jivocrm.engine import catalogue
from jivocrm.engine.filters import MISSING, lookup
from jivocrm.engine.process import process_event

EVENTS = sorted(catalogue.EVENTS)


def _written(path: str) -> str:
    return path.replace("[]", "[0]")


def field_lines(event: str) -> list[tuple[str, str]]:
    """(path, template) for every documented value and free-form object of ``event``."""
    lines = []
    for path, spec in catalogue.walk(catalogue.EVENTS[event]):
        if spec.kind not in ("value", "map"):
            continue
        read = f"event.{_written(path)}"
        risky = catalogue.read_risk(event, _written(path)) is not None
        lines.append((path, f"{{{{ {read} | default('') }}}}" if risky else f"{{{{ {read} }}}}"))
    return lines


def documented_bundle(conn: str, event: str) -> str:
    text = "\n".join(f"{path}={template}" for path, template in field_lines(event))
    indented = "\n".join("      " + line for line in text.splitlines())
    return f"""\
version: 1
name: {conn}-{event}
trigger: {{event: {event}}}
steps:
  - id: contact
    type: new_contact
    connection: {conn}
    fields:
      name: "Jivo {{{{ event.event_name }}}}"
      phone: "{{{{ event.phone }}}}"
      email: "{{{{ event.email }}}}"
    duplicates: {{mode: create}}
  - id: note
    type: add_note
    connection: {conn}
    entity: {{type: contact, id: "{{{{ steps.contact.id }}}}"}}
    text: |-
{indented}
"""


@pytest.mark.parametrize("event", EVENTS)
def test_each_sample_has_every_documented_block_and_nothing_else(event: str) -> None:
    sample = samples.load(event)
    documented = catalogue.EVENTS[event]
    assert set(sample) == set(documented), "a sample carries every documented block"
    for path, spec in catalogue.walk(documented):
        if spec.kind != "object":
            continue
        value = lookup(sample, _written(path))  # list items: the first one
        if isinstance(value, dict):
            assert set(value) <= set(spec.fields), f"{event}: {path} has undocumented keys"


@pytest.mark.parametrize("conn", ["amo", "b24"])
@pytest.mark.parametrize("event", EVENTS)
async def test_every_documented_field_reaches_the_crm(
    tmp_path: Path, conn: str, event: str
) -> None:
    project = write_project(tmp_path, {"documented": documented_bundle(conn, event)})
    assert [b.name for b in project.bundles] == [f"{conn}-{event}"]  # validate-clean
    payload = samples.load(event)
    async with opened(project, tmp_path) as conns:
        report = await process_event(project, payload, conns, conns.caches)
    (run,) = [r.outcome for r in report.runs if r.outcome is not None]
    assert run.status == "succeeded", run.error
    note = next(s for s in run.steps if s.step_id == "note")
    written = dict(line.split("=", 1) for line in str(note.input["text"]).splitlines())
    assert set(written) == {path for path, _ in field_lines(event)}
    event_data: dict[str, Any] = dict(project.parse(payload))
    for path in written:
        value = lookup(event_data, _written(path))
        if value is MISSING or value is None:
            assert written[path] in ("", "None"), path
        else:
            assert written[path] == str(value), path
