"""``jivocrm init [DIR] --crm CRM``: a working project to start from.

The example project at the repository root (``bundles/``) is this command's output for the
CRMs it shows; after changing a scaffold, regenerate it with ``make example`` (it runs ``jivocrm
init bundles --crm … --emulate --force``; tests/unit/test_init.py fails while the two differ).
"""

from __future__ import annotations

from pathlib import Path

import click

from jivocrm.cli.common import OK, USER_ERROR, finish, guarded
from jivocrm.core.i18n import _, ngettext
from jivocrm.scaffold import bundle_count, crm_types, project_files


def init(directory: Path, crms: list[str], emulate: bool, force: bool) -> int:
    files = project_files(crms, emulate)
    existing = sorted(name for name in files if (directory / name).exists())
    if existing and not force:
        click.echo(
            _(
                "error: {directory} already has {files}; "
                "nothing was written (--force overwrites them)"
            ).format(directory=directory, files=", ".join(existing)),
            err=True,
        )
        return USER_ERROR
    for name, text in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
    bundles = bundle_count(files)
    created = ngettext(
        "created a jivocrm project in {directory}: jivocrm.yaml, {count} bundle with its "
        "tests, sample events and a CI workflow",
        "created a jivocrm project in {directory}: jivocrm.yaml, {count} bundles with their "
        "tests, sample events and a CI workflow",
        bundles,
    )
    click.echo(created.format(directory=directory, count=bundles))
    steps = [] if directory == Path(".") else [f"cd {directory}"]
    steps += ["jivocrm validate", "jivocrm test"]
    if not emulate:
        steps.append("cp .env.example .env   # " + _("then fill in the secrets"))
    steps.append("jivocrm serve")
    click.echo(_("next:") + "\n" + "\n".join(f"  {step}" for step in steps))
    return OK


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option(
    "--crm",
    "crms",
    type=click.Choice(crm_types()),
    multiple=True,
    required=True,
    help="The CRM to write to; twice for both (each CRM's bundles then get their own folder).",
)
@click.option(
    "--emulate",
    is_flag=True,
    help="Connections use the built-in CRM emulators: try the bundles without a CRM account.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def command(directory: Path, crms: tuple[str, ...], emulate: bool, force: bool) -> None:
    """Create a project: jivocrm.yaml, the default bundles with their tests, a CI workflow.

    Also the sample events the tests read, .env.example, .gitignore and a README."""
    chosen = sorted(set(crms))  # the same project whatever the order of the options
    finish(guarded(lambda: init(directory, chosen, emulate, force)))
