"""The house's shape, computed from the code: imports run down the layers with no cycle, and a
CRM lives in its folder alone (docs/architecture.md)."""

from __future__ import annotations

import graphlib
import re
from collections import defaultdict
from pathlib import Path

import grimp
from importlinter import cli as importlinter

from jivocrm.connectors import CONNECTORS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "jivocrm"


def graph() -> grimp.ImportGraph:
    # Every import counts, those made only for type checking too.
    return grimp.build_graph("jivocrm", exclude_type_checking_imports=False)


def cycle_in(edges: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as exc:
        found: list[str] = exc.args[1]
        return found
    return None


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    imports = graph()
    edges = {m: set(imports.find_modules_directly_imported_by(m)) for m in imports.modules}
    assert cycle_in(edges) is None


def test_no_package_imports_a_package_that_imports_it_back() -> None:
    imports = graph()
    for parent in {m.rsplit(".", 1)[0] for m in imports.modules if "." in m}:
        children = imports.find_children(parent)
        edges: dict[str, set[str]] = defaultdict(set)
        for child in children:
            for module in {child} | imports.find_descendants(child):
                for target in imports.find_modules_directly_imported_by(module):
                    owner = next(
                        (c for c in children if target == c or target.startswith(c + ".")), None
                    )
                    if owner is not None and owner != child:
                        edges[child].add(owner)
        assert cycle_in(edges) is None, parent


def test_imports_run_down_the_layers() -> None:
    # The layers are import-linter's contract in pyproject.toml.
    assert importlinter.lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def crm_names() -> set[str]:
    """What would name a CRM: its type string and the words of its title."""
    names: set[str] = set()
    for spec in CONNECTORS.values():
        names.add(spec.type)
        names.update(w for w in re.split(r"[\s/]+", spec.title) if len(w) > 3)
    return {n.casefold() for n in names}


def outside_crm_folders() -> list[Path]:
    folders = [PACKAGE / "connectors" / crm for crm in CONNECTORS]
    registry = PACKAGE / "connectors" / "__init__.py"
    files = [p for p in PACKAGE.rglob("*") if p.is_file() and p.suffix in (".py", ".html", ".tmpl")]
    return [p for p in files if p != registry and not any(f in p.parents for f in folders)]


def test_no_module_outside_a_crms_folder_names_a_crm() -> None:
    names = crm_names()
    assert {"amocrm", "bitrix24", "retailcrm"} <= names  # the check knows what it looks for
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names)), re.IGNORECASE)
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in outside_crm_folders()
        for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert found == []
