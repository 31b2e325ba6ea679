"""Bundle tests: ``*.test.yaml`` files next to the bundles, run on in-process emulators.

The file format is described in ``format.md`` (``FORMAT``, the "Bundle tests" section of
docs/reference.md) and checked by ``spec.SCHEMA``; ``execute`` runs one test.
``run_path`` runs every test under a path against the project each file belongs to; without a
path, every test file beside the bundles of the project (wherever its ``bundles:`` points).

A test file named like a bundle file (``chat-finished.test.yaml`` beside ``chat-finished.yaml``)
tests that bundle unless it names another with ``bundle:`` (``bundle: "*"``: every bundle).
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from jivocrm.core.errors import JivoCRMError, ProjectError
from jivocrm.engine.bundle_tests.execute import TestResult, run_test
from jivocrm.engine.bundle_tests.spec import (
    SCHEMA,
    SUFFIXES,
    BundleTest,
    find_test_files,
    load_tests,
)
from jivocrm.engine.model import Project
from jivocrm.engine.project import PROJECT_FILE, find_project_file, load_project

EVERY = "*"
FORMAT = resources.files(__name__).joinpath("format.md").read_text("utf-8")


def project_file_for(path: Path) -> Path:
    """The nearest jivocrm.yaml in the test file's folder or above."""
    for folder in [path.parent.resolve(), *path.parent.resolve().parents]:
        if (folder / PROJECT_FILE).is_file():
            return folder / PROJECT_FILE
    raise JivoCRMError(f"{path}: no {PROJECT_FILE} in its folder or above; give --project")


def project_test_files(project: Project) -> list[Path]:
    """The test files beside the project's bundle files, in every folder ``bundles:`` names."""
    folders = {(project.root / b.file).parent.resolve() for b in project.bundles}
    found = {p for folder in folders for suffix in SUFFIXES for p in folder.glob(f"*{suffix}")}
    return sorted(found)


def sibling_bundle(test: BundleTest, project: Project) -> str | None:
    """The bundle whose file the test file is named after, if the project has it."""
    name = test.file.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            stem = name.removesuffix(suffix)
            break
    else:
        return None
    folder = test.file.parent.resolve()
    for bundle in project.bundles:
        path = (project.root / bundle.file).resolve()
        if path.parent == folder and path.name.rsplit(".", 1)[0] == stem:
            return bundle.name
    return None


def _load(where: Path) -> Project:
    project, problems = load_project(where)
    if project is None:
        raise ProjectError(problems)
    return project


async def run_path(path: Path | None, project_path: Path | None = None) -> list[TestResult]:
    """Every test under ``path`` (a file or folder), or of the project when ``path`` is None."""
    projects: dict[Path, Project] = {}
    if path is None:
        where = find_project_file(project_path or Path("."))
        if not where.is_file():
            raise JivoCRMError(
                f"no {PROJECT_FILE} in {where.parent}; run in the project folder, "
                "give --project, or name the tests' folder"
            )
        project = _load(where)
        projects[where.resolve()] = project
        files = project_test_files(project)
        if not files:
            folders = sorted({str(Path(b.file).parent) for b in project.bundles}) or ["bundles"]
            raise JivoCRMError(
                f"no *.test.yaml files beside the bundles ({', '.join(folders)}); "
                "see `Bundle tests` in docs/reference.md"
            )
    else:
        files = find_test_files(path)
        if not files:
            raise JivoCRMError(f"no *.test.yaml files under {path}")
    results = []
    for file in files:
        for test in load_tests(file):
            where = test.project or project_path or project_file_for(file)
            key = find_project_file(where).resolve()
            if key not in projects:
                projects[key] = _load(where)
            project = projects[key]
            if test.bundle == EVERY:
                test = dataclasses.replace(test, bundle=None)
            elif test.bundle is None:
                test = dataclasses.replace(test, bundle=sibling_bundle(test, project))
            results.append(await run_test(test, project))
    return results


__all__ = ["FORMAT", "SCHEMA", "BundleTest", "TestResult", "load_tests", "run_path", "run_test"]
