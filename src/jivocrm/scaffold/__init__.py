"""What ``jivocrm init`` writes: a project file, the default bundle set per CRM with a test file
beside each bundle, the sample events those tests read, a CI workflow, .env.example, .gitignore
and a README, composed from the templates in this package and those each CRM keeps in its own
folder (``connectors/<crm>/scaffold/``: its connection entry and its default bundles).

The bundles are the set integration platforms create for a Jivo customer (chat start and finish,
each with and without contacts, the data update, offline messages and calls); the pipeline and
stage names are those of the emulators' default accounts, so an ``--emulate`` project runs as is.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING

from jivocrm import __version__, samples
from jivocrm.core import i18n
from jivocrm.core.i18n import N_, Text, _
from jivocrm.engine.envvars import references
from jivocrm.scaffold.comments import localize

if TYPE_CHECKING:
    from jivocrm.connectors.spec import ConnectorSpec


def spec(crm: str) -> ConnectorSpec:
    from jivocrm.connectors import CONNECTORS

    return CONNECTORS[crm]


def crm_types() -> list[str]:
    """The CRMs ``init`` can write a project for: every registered connector."""
    from jivocrm.connectors import CONNECTORS

    return sorted(CONNECTORS)


JIVO_VARIABLES = (("JIVO_SHOP_TOKEN", N_("any long random text; Jivo posts to /jivo/<it>")),)
ENV_HEADER = N_(
    "The variables jivocrm.yaml refers to. Copy to .env (never commit it) or set them\n"
    "where `jivocrm serve` runs. `jivocrm validate` needs none of them."
)
ENV_EMULATED = N_(
    "The connections say `emulate: true`: they need no CRM values until you\n"
    "switch the emulator off."
)
EMULATOR_COMMENT = N_("the built-in emulator of the CRM")
README_EMULATED = N_(
    "The connections say `emulate: true`: jivocrm runs a built-in emulator of the CRM, so\n"
    "the bundles can be tried without an account. Remove the line to use yours.\n\n"
)
# The files whose comments are read in the project's language (YAML and .gitignore).
COMMENTED = (".yaml", ".yml", ".gitignore")
BUNDLE_SCHEMA_LINE = "# yaml-language-server: $schema=../.jivocrm/bundle.schema.json\n"
TEST_SUFFIX = ".test.yaml"
SAMPLES_DIR = "samples"
# A test file names a sample event as ``event: ../samples/<name>.json``.
SAMPLE_REFERENCE = re.compile(r"\.\./" + SAMPLES_DIR + r"/([\w-]+)\.json")
WORKFLOW = ".github/workflows/jivocrm.yml"


def _and(words: list[str]) -> str:
    said = words[0] if words else ""
    for word in words[1:]:
        said = Text("{some} and {last}", some=said, last=word)
    return i18n.localized(said)


def _readme() -> str:
    """The README template in the current language (English where it has none)."""
    own = resources.files(__name__).joinpath(f"README.{i18n.current()}.md.tmpl")
    return own.read_text("utf-8") if own.is_file() else _read("README.md.tmpl")


def _read(*parts: str) -> str:
    return resources.files(__name__).joinpath(*parts).read_text("utf-8")


def _crm_files(crm: str) -> Traversable:
    """The CRM's own scaffold: ``connection.yaml.tmpl`` and ``bundles/``, in its folder."""
    return resources.files(spec(crm).scaffold.package).joinpath("scaffold")


def _read_crm(crm: str, *parts: str) -> str:
    return _crm_files(crm).joinpath(*parts).read_text("utf-8")


def bundle_names(crm: str) -> list[str]:
    """The default bundles' files of ``crm``, without their test files."""
    folder = _crm_files(crm).joinpath("bundles")
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.name.endswith(".yaml") and not p.name.endswith(TEST_SUFFIX)
    )


def test_name(bundle_file: str) -> str:
    return bundle_file.removesuffix(".yaml") + TEST_SUFFIX


def _fill(template: str, **values: str) -> str:
    # @@NAME@@ placeholders: YAML's braces and ${VAR} references stay as they are.
    return re.sub(r"@@([A-Z_]+)@@", lambda m: values[m.group(1)], template)


def _bundle(crm: str, name: str, named: bool) -> str:
    text = _read_crm(crm, "bundles", name)
    if named:
        # Both CRMs side by side: the same file name twice, so the bundle names tell them apart.
        stem = name.removesuffix(".yaml")
        text = text.replace("version: 1\n", f"version: 1\nname: {crm}-{stem}\n", 1)
    return text


def _env_example(crms: list[str], emulate: bool) -> str:
    lines = [f"# {line}" for line in _(ENV_HEADER).split("\n")]
    if emulate:
        lines += [f"# {line}" for line in _(ENV_EMULATED).split("\n")]
    variables = list(JIVO_VARIABLES)
    for crm in crms:
        variables.extend(spec(crm).scaffold.variables)
    for name, hint in variables:
        lines += ["", f"# {_(hint)}", f"{name}="]
    return "\n".join(lines) + "\n"


def project_files(crms: list[str], emulate: bool) -> dict[str, str]:
    """Relative path → content of every file of a new project for ``crms``."""
    from jivocrm.engine.schema import bundle_schema, project_schema

    both = len(crms) > 1
    folders = [f"{crm}/" for crm in crms] if both else ["bundles/"]
    connections = []
    for crm in crms:
        block = _read_crm(crm, "connection.yaml.tmpl")
        if emulate:
            block += f"    emulate: true                           # {_(EMULATOR_COMMENT)}\n"
        connections.append(block.rstrip("\n"))
    files = {
        "jivocrm.yaml": _fill(
            _read("jivocrm.yaml.tmpl"),
            BUNDLES=folders[0] if not both else "[" + ", ".join(folders) + "]",
            TIMEZONE=spec(crms[0]).scaffold.timezone,
            LANGUAGE=i18n.current(),
            CONNECTIONS="\n".join(connections),
        ),
        ".env.example": _env_example(crms, emulate),
        ".gitignore": _read("gitignore"),
        "README.md": _fill(
            _readme(),
            CRMS=_and([spec(c).title for c in crms]),
            WHERE=_and([f"`{f}`" for f in folders]),
            NO_CONTACTS="; ".join(_(spec(c).scaffold.no_contacts) for c in crms),
            EMULATE=_(README_EMULATED) if emulate else "",
        ),
        ".jivocrm/bundle.schema.json": json.dumps(bundle_schema(), ensure_ascii=False, indent=2)
        + "\n",
        ".jivocrm/project.schema.json": json.dumps(project_schema(), ensure_ascii=False, indent=2)
        + "\n",
    }
    for crm, folder in zip(crms, folders, strict=True):
        for name in bundle_names(crm):
            files[folder + name] = _bundle(crm, name, both)
            files[folder + test_name(name)] = _read_crm(crm, "bundles", test_name(name))
    used = sorted({m for text in files.values() for m in SAMPLE_REFERENCE.findall(text)})
    for name in used:
        files[f"{SAMPLES_DIR}/{name}.json"] = samples.text(name)
    files[WORKFLOW] = _fill(_read("workflow.yml.tmpl"), VERSION=__version__)
    if i18n.current() != i18n.SOURCE:
        files = {n: localize(t) if n.endswith(COMMENTED) else t for n, t in files.items()}
    return files


def bundle_count(files: dict[str, str]) -> int:
    """How many of ``files`` are bundles (not their tests, samples or dot-files)."""
    return sum(
        1
        for name in files
        if name.endswith(".yaml")
        and not name.endswith(TEST_SUFFIX)
        and "/" in name
        and not name.startswith(".")
    )


def variables_used(files: dict[str, str]) -> set[str]:
    """Every ${VAR} the project file refers to (a test keeps .env.example complete)."""
    return set(references(files["jivocrm.yaml"]))


__all__ = ["bundle_count", "bundle_names", "crm_types", "project_files", "variables_used"]
