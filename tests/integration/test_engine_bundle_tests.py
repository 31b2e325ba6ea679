"""``jivocrm test``: bundle tests pass and fail readably, ending with the counts and exit code."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from engine_project import bundle, write_project

from jivocrm import samples
from jivocrm.cli import cli

TESTS = """\
bundle: b24-chat_accepted
tests:
  - name: a new visitor, first run (users and metadata are fetched once, then cached)
    event: ../samples/chat_accepted.json
    crm: {b24: {contacts: []}}
    expect:
      matched: true
      status: succeeded
      calls:
        - POST user.get                       # find_employee: the user list
        - POST batch                          # the duplicate search, phone and e-mail at once
        - POST user.get                       # metadata (pipelines, fields, users)
        - POST batch
        - POST batch
        - {call: POST batch, request: {halt: 1}}   # contact and deal in one batch
      steps: {contact: {created: true}, deal: {created: true}}
      crm:
        b24:
          contacts: [{name: Анна Смирнова, phones: ["+79161234567"]}]
          deals: [{name: "Чат Jivo #58213", pipeline: Чаты с сайта, stage: Консультация}]
  - name: a known visitor is found
    event: ../samples/chat_accepted.json
    patch: {visitor: {phone: "8 (916) 123-45-67", email: null}}
    crm: {b24: {contacts: [{id: 77, name: Анна, phones: ["+7 916 123 45 67"]}]}}
    expect:
      steps: {contact: {id: 77, created: false, matched_by: phone}}
      crm: {b24: {contacts: [{id: 77}], deals: [{contacts: ["77"]}]}}
  - name: wrong on purpose
    event: {event_name: chat_finished, chat_id: 1}
    expect: {matched: true}
"""


def test_bundle_tests_report_and_exit_code(tmp_path: Path) -> None:
    write_project(tmp_path, {"b": bundle("b24")})
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "chat_accepted.json").write_text(samples.text("chat_accepted"))
    (tmp_path / "bundles" / "b.test.yaml").write_text(TESTS, "utf-8")
    result = CliRunner().invoke(cli, ["test", str(tmp_path / "bundles")])
    lines = result.output.strip().splitlines()
    assert lines[-1] == "2 passed, 1 failed", result.output
    assert result.exit_code == 1
    assert "FAIL" in result.output
    assert "matched: expected True, got False (b24-chat_accepted: event is chat_finished" in (
        result.output
    )
