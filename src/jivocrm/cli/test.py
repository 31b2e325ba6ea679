"""``jivocrm test [PATH]``: run the bundle tests (``*.test.yaml``) on in-process emulators.

Prints each test, a readable diff for each failure, and ends with ``N passed, N failed``; exits
1 when any test failed. The file format: the "Bundle tests" section of docs/reference.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from jivocrm.cli.common import FORMAT, OK, USER_ERROR, echo_json, finish, guarded
from jivocrm.cli.run import quiet_logs
from jivocrm.core.i18n import _, localized
from jivocrm.engine.bundle_tests import TestResult, run_path
from jivocrm.engine.bundle_tests.execute import call_key


def echo_results(results: list[TestResult], fmt: str) -> None:
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    if fmt == "json":
        echo_json(
            {
                "tests": [
                    {"test": r.test.title, "passed": r.passed, "failures": r.failures}
                    for r in results
                ],
                "passed": passed,
                "failed": failed,
            }
        )
        return
    for result in results:
        # PASS and FAIL stay as they are: scripts and CI logs look for them.
        mark = "PASS" if result.passed else "FAIL"
        click.echo(f"{mark} {result.test.title}")
        for failure in result.failures:
            click.echo(f"  - {localized(failure)}")
        if result.failures and result.calls:
            made = ", ".join(call_key(c) for c in result.calls)
            click.echo("  " + _("calls made: {calls}").format(calls=made))
    click.echo(_("{passed} passed, {failed} failed").format(passed=passed, failed=failed))


def test(path: Path | None, project: Path | None, fmt: str) -> int:
    quiet_logs()
    results = asyncio.run(run_path(path, project))
    echo_results(results, fmt)
    return OK if all(r.passed for r in results) else USER_ERROR


@click.command("test")
@click.argument("path", type=click.Path(exists=True, path_type=Path), required=False)
@click.option(
    "--project",
    type=click.Path(exists=True, path_type=Path),
    help="The project (default: the one in this folder, or for PATH the nearest jivocrm.yaml "
    "above each test file).",
)
@FORMAT
def command(path: Path | None, project: Path | None, fmt: str) -> None:
    """Run bundle tests: an event in, the expected CRM calls, records and reply out.

    Without PATH, every *.test.yaml beside the project's bundles. The tests run on the built-in
    CRM emulators: they need no secrets and no network.
    """
    finish(guarded(lambda: test(path, project, fmt)))
