"""`jivocrm validate` as CI runs it: every error of every file in one run, exit codes, formats."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from jivocrm.cli import cli

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "corpus" / "multi-file"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_all_errors_of_all_files_come_out_in_one_run() -> None:
    code, out, err = run("validate", str(BROKEN))
    assert code == 1
    assert out.splitlines() == [
        "bundles/deal.yaml:12:17: steps[1] (deal).connection: unknown connection 'amoo' "
        "(did you mean 'amo'?)",
        "bundles/started.yaml:8:13: steps[0] (contact).fields.name: event chat_accepted has no "
        "field 'visitor.nam' (did you mean 'visitor.name'?)",
        "jivocrm.yaml:11:25: connections.amo.auth.long_lived_token: the value is a secret: "
        "write it as ${AMO_TOKEN} and set the variable where jivocrm runs",
    ]
    assert err.strip() == "3 errors in 3 files"


def test_json_format_gives_one_object_per_problem() -> None:
    code, out, _ = run("validate", str(BROKEN), "--format", "json")
    assert code == 1
    first = json.loads(out)[0]
    assert first == {
        "file": "bundles/deal.yaml",
        "line": 12,
        "column": 17,
        "path": "steps[1].connection",
        "message": "unknown connection 'amoo' (did you mean 'amo'?)",
        "severity": "error",
        "step": "deal",
        "code": "unknown-connection",
    }


def test_github_format_gives_workflow_annotations() -> None:
    code, out, _ = run("validate", str(BROKEN), "--format", "github")
    assert code == 1
    assert out.splitlines()[0] == (
        "::error file=bundles/deal.yaml,line=12,col=17,title=unknown-connection::"
        "steps[1] (deal).connection: "
        "unknown connection 'amoo' (did you mean 'amo'?)"
    )


def test_the_example_project_is_valid() -> None:
    code, out, err = run("validate", str(ROOT / "bundles"))
    assert (code, out) == (0, "")
    bundles = len(list((ROOT / "bundles").glob("*/*.yaml"))) - len(
        list((ROOT / "bundles").glob("*/*.test.yaml"))
    )
    assert err.strip() == f"ok: jivocrm.yaml and {bundles} bundles are valid"


def test_clean_json_output_is_an_empty_list() -> None:
    code, out, _ = run("validate", str(ROOT / "bundles"), "--format", "json")
    assert (code, json.loads(out)) == (0, [])


def test_a_directory_without_a_project_says_how_to_make_one(tmp_path: Path) -> None:
    code, out, _ = run("validate", str(tmp_path))
    assert code == 1
    assert "no project file (run `jivocrm init` to create one)" in out


def test_usage_errors_exit_2() -> None:
    assert run("validate", "--format", "xml")[0] == 2
    assert run("validate", "--no-such-option")[0] == 2
    assert run("init", "somewhere")[0] == 2  # --crm is required
    assert run("init", "--crm", "salesforce")[0] == 2
