"""Bundle versions as the store keeps them: what a run was created with, loaded back to run again.

A version is the bundle file's text under its version hash. ``bundle_at`` turns a stored version
back into a ``Bundle`` checked against the project as it is now (its connections, channels and
CRM names), so a replay with ``--config original`` cannot run a version that no longer fits the
project: it is refused with the reasons instead.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from jivocrm.core.diagnostics import Diagnostic
from jivocrm.core.errors import JivoCRMError
from jivocrm.engine.loader import load_file, load_text
from jivocrm.engine.model import Bundle, Project
from jivocrm.store.base import BundleVersion


def version_of(bundle: Bundle) -> BundleVersion:
    return BundleVersion(bundle.version_hash, bundle.name, bundle.file, bundle.text)


def versions_of(bundles: list[Bundle]) -> tuple[BundleVersion, ...]:
    """The distinct versions of ``bundles``, in order."""
    seen = {b.version_hash: version_of(b) for b in bundles}
    return tuple(seen.values())


def bundle_at(project: Project, version: BundleVersion) -> Bundle:
    """The stored ``version`` as a bundle of ``project``; ``JivoCRMError`` when it no longer
    fits the project (every reason, compiler style)."""
    from jivocrm.engine import checks
    from jivocrm.engine.project import build_bundle, check_bundle_schema

    label = f"{version.file} (version {version.hash})"
    doc, problems = load_text(version.source, label)
    if doc is not None and isinstance(doc.data, dict):
        problems.extend(check_bundle_schema(doc))
        project_doc, found = load_file(project.file, project.file.name)
        problems.extend(found)
        if project_doc is not None and isinstance(project_doc.data, dict):
            facts, _ = checks._facts(project.root, project_doc, use_snapshot=True)
            problems.extend(checks.check_bundle(doc, facts))
    errors = [p for p in problems if p.severity == "error"]
    if doc is None or errors or not isinstance(doc.data, dict):
        raise VersionUnfit(version, errors or problems)
    bundle = build_bundle(doc, Path(version.file), version.source.encode("utf-8"))
    if bundle.version_hash != version.hash:
        raise JivoCRMError(f"stored version {version.hash} of {version.bundle!r} is damaged")
    return bundle


class VersionUnfit(JivoCRMError):
    def __init__(self, version: BundleVersion, problems: list[Diagnostic]) -> None:
        listed = "; ".join(p.format() for p in problems[:5]) or "it does not load"
        super().__init__(
            f"version {version.hash} of bundle {version.bundle!r} no longer fits the project: "
            f"{listed}"
        )


def diff(old: BundleVersion, new: Bundle | None) -> str:
    """A unified diff from the stored version to the bundle as the project has it now."""
    if new is None:
        return f"bundle {old.bundle!r} is no longer in the project\n"
    if new.version_hash == old.hash:
        return ""
    lines = difflib.unified_diff(
        old.source.splitlines(keepends=True),
        new.text.splitlines(keepends=True),
        fromfile=f"{old.file} (version {old.hash}, the run's)",
        tofile=f"{new.file} (version {new.version_hash}, now)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


__all__ = ["VersionUnfit", "bundle_at", "diff", "version_of", "versions_of"]
