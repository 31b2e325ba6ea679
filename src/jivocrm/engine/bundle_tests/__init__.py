"""Bundle tests: ``*.test.yaml`` files next to the bundles, run on in-process emulators.

The file format is described in ``spec`` (and by ``spec.SCHEMA``); ``execute`` runs one test.
``run_path`` runs every test under a path against the project each file belongs to.
"""

from __future__ import annotations

from pathlib import Path

from jivocrm.engine.bundle_tests.execute import TestResult, run_test
from jivocrm.engine.bundle_tests.spec import SCHEMA, BundleTest, find_test_files, load_tests
from jivocrm.engine.model import Project
from jivocrm.engine.project import PROJECT_FILE, load_project
from jivocrm.errors import JivoCRMError, ProjectError


def project_file_for(path: Path) -> Path:
    """The nearest jivocrm.yaml in the test file's folder or above."""
    for folder in [path.parent.resolve(), *path.parent.resolve().parents]:
        if (folder / PROJECT_FILE).is_file():
            return folder / PROJECT_FILE
    raise JivoCRMError(f"{path}: no {PROJECT_FILE} in its folder or above; give --project")


async def run_path(path: Path, project_path: Path | None = None) -> list[TestResult]:
    files = find_test_files(path)
    if not files:
        raise JivoCRMError(f"no *.test.yaml files under {path}")
    projects: dict[Path, Project] = {}
    results = []
    for file in files:
        for test in load_tests(file):
            where = test.project or project_path or project_file_for(file)
            key = where.resolve()
            if key not in projects:
                project, problems = load_project(where)
                if project is None:
                    raise ProjectError(problems)
                projects[key] = project
            results.append(await run_test(test, projects[key]))
    return results


__all__ = ["SCHEMA", "BundleTest", "TestResult", "load_tests", "run_path", "run_test"]
