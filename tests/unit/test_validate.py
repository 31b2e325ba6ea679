"""validate reports each kind of problem at its exact file, line and column (tests/corpus/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jivocrm.engine.loader import MAX_FILE_BYTES
from jivocrm.engine.project import load_project

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "jivocrm.yaml").exists())


def reported(root: Path) -> list[str]:
    project, problems = load_project(root)
    assert project is None
    return [p.format() for p in problems]


@pytest.mark.parametrize("case", CASES)
def test_each_broken_project_reports_exactly_its_problems(case: str) -> None:
    expected = (CORPUS / case / "expected.txt").read_text("utf-8").splitlines()
    assert expected, "every corpus case is broken"
    assert reported(CORPUS / case) == expected


def test_unknown_connection_says_which_one_was_meant() -> None:
    assert reported(CORPUS / "unknown-connection") == [
        "bundles/deal.yaml:12:17: steps[1] (deal).connection: unknown connection 'amoo' "
        "(did you mean 'amo'?)"
    ]


def test_event_fields_are_checked_against_the_triggers_event() -> None:
    assert (
        "bundles/deal.yaml:9:14: steps[0] (contact).fields.email: event chat_finished has no field "
        "'visitor.mail' (did you mean 'visitor.email'?)"
    ) in reported(CORPUS / "event-field")


def test_a_template_error_in_a_block_scalar_points_at_its_line_in_the_file() -> None:
    found = reported(CORPUS / "template-syntax")
    assert (
        found[0]
        == "bundles/deal.yaml:8:13: steps[0] (contact).fields.name: template syntax: unexpected '}'"
    )
    # `name: |` is on line 17; the unclosed `{% if %}` is the block's second line
    assert found[1].startswith(
        "bundles/deal.yaml:19:9: steps[1] (deal).fields.name: template syntax:"
    )


def test_a_secret_is_never_echoed() -> None:
    text = "\n".join(reported(CORPUS / "secret-literal"))
    for secret in ("s3cr3t-channel-token", "eyJ0eXAiOiJKV1Qi", "k3y5ecretc0de", "XXXX"):
        assert secret not in text
    assert "write it as ${AMO_TOKEN}" in text


def test_references_and_loopback_urls_are_not_secrets(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "unknown-connection", tmp_path, dirs_exist_ok=True)
    project = tmp_path / "jivocrm.yaml"
    text = project.read_text("utf-8").replace(
        "${B24_WEBHOOK_URL}", "http://127.0.0.1:8090/rest/1/emulatorcode1/"
    )
    project.write_text(text, "utf-8")
    assert all("connections" not in line for line in reported(tmp_path))


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "unknown-connection", tmp_path, dirs_exist_ok=True)
    big = tmp_path / "bundles" / "big.yaml"
    big.write_text("# " + "x" * MAX_FILE_BYTES + "\nversion: 1\n", "utf-8")
    assert "bundles/big.yaml:1:1: file is larger than 1024 KiB" in reported(tmp_path)


def test_a_project_without_a_snapshot_skips_the_name_checks(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "snapshot-names", tmp_path, dirs_exist_ok=True)
    (tmp_path / "metadata.lock.yaml").unlink()
    project, problems = load_project(tmp_path)
    assert problems == []
    assert project is not None


def test_a_named_snapshot_that_is_missing_is_a_warning(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "snapshot-names", tmp_path, dirs_exist_ok=True)
    (tmp_path / "metadata.lock.yaml").rename(tmp_path / "crm.lock.yaml")
    project_file = tmp_path / "jivocrm.yaml"
    project_file.write_text(project_file.read_text("utf-8") + "metadata: crm.yaml\n", "utf-8")
    project, problems = load_project(tmp_path)
    assert project is not None
    assert [(p.severity, p.format()) for p in problems] == [
        (
            "warning",
            "jivocrm.yaml:15:11: metadata: crm.yaml does not exist yet: run `jivocrm "
            "connections refresh` to write it (CRM names in bundles are not checked until then)",
        )
    ]


def test_a_broken_snapshot_is_reported_at_its_position(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "snapshot-names", tmp_path, dirs_exist_ok=True)
    (tmp_path / "metadata.lock.yaml").write_text(
        "version: 1\nconnections:\n  amo: {pipelines: []}\n", "utf-8"
    )
    assert reported(tmp_path)[-1] == (
        "metadata.lock.yaml:3:3: connections.amo: missing required key 'type'"
    )


def _name_template(tmp_path: Path, template: str, step_keys: str = "") -> list[str]:
    """Problems of the corpus bundle (chat_finished) whose contact name is ``template``."""
    shutil.copytree(CORPUS / "unknown-connection", tmp_path, dirs_exist_ok=True)
    bundle = tmp_path / "bundles" / "deal.yaml"
    text = bundle.read_text("utf-8").replace("amoo", "amo")
    text = text.replace('"{{ event.visitor.name }}"', json.dumps(template, ensure_ascii=False))
    if step_keys:
        text = text.replace("    type: new_contact\n", f"    type: new_contact\n{step_keys}", 1)
    bundle.write_text(text, "utf-8")
    _project, problems = load_project(tmp_path)
    return [p.message for p in problems]


def test_a_method_on_an_optional_value_is_read_past_it_safely(tmp_path: Path) -> None:
    (problem,) = _name_template(tmp_path, "{{ event.visitor.name.upper() }}")
    assert "visitor.name may be absent; write {{ (event.visitor.name or '').upper() }}" in problem
    assert _name_template(tmp_path / "ok", "{{ (event.visitor.name or '').upper() }}") == []


def test_a_template_may_call_methods_on_a_field_and_read_list_items(tmp_path: Path) -> None:
    template = (
        "{{ event.visitor.description.upper() }} {{ event.agents[0].email | default('') }}"
        " {{ event.agents | first }} {{ event.visitor.social.vk | default('') }}"
        " {% if event.tags %}{{ event.tags[0].title }}{% endif %}"
        " {{ event.visitor.social.get('vk') if event.visitor.social else '' }}"
        " {% for m in event.chat.messages %}{{ m.x }}{% endfor %}"
    )
    assert _name_template(tmp_path, template) == []


@pytest.mark.parametrize(
    ("template", "missing", "when"),
    [
        ("{{ event.agents[0].email }}", "agents is a list that may be empty", "event.agents"),
        ("{{ event.session.utm_json.source }}", "session.utm_json may be absent", ""),
        (
            "{{ event.visitor.social.vk }}",
            "visitor.social.vk is there only when Jivo sends it",
            "event.visitor.social.vk is defined",
        ),
    ],
)
def test_reading_below_what_may_be_missing_needs_a_default(
    tmp_path: Path, template: str, missing: str, when: str
) -> None:
    inner = template[3:-3].strip()
    problems = _name_template(tmp_path, template)
    assert len(problems) == 1
    assert (
        f"can be missing at run time: {missing}; write {{{{ {inner} | default('') }}}}"
        in (problems[0])
    )
    assert "or run the step under `when:" in problems[0]
    guard = when or inner.rsplit(".", 1)[0]
    fixed = problems[0].split("; write ", 1)[1].split(", or run", 1)[0]
    assert _name_template(tmp_path / "fixed", fixed) == []
    assert _name_template(tmp_path / "guarded", template, f'    when: "{{{{ {guard} }}}}"\n') == []


def test_an_unknown_timezone_is_refused_at_its_line(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "unknown-connection", tmp_path, dirs_exist_ok=True)
    (tmp_path / "bundles" / "deal.yaml").write_text(
        (tmp_path / "bundles" / "deal.yaml").read_text("utf-8").replace("amoo", "amo"), "utf-8"
    )
    project_file = tmp_path / "jivocrm.yaml"
    project_file.write_text(project_file.read_text("utf-8") + "timezone: Europe/Moskva\n")
    assert reported(tmp_path)[-1].endswith(
        "timezone: unknown timezone 'Europe/Moskva': write an IANA name such as Europe/Moscow "
        "or UTC"
    )
    project_file.write_text(project_file.read_text("utf-8").replace("Moskva", "Moscow"))
    project, _ = load_project(tmp_path)
    assert project is not None
    assert project.timezone == "Europe/Moscow"
