"""``jivocrm validate [PATH]``: every problem of the project, compiler style."""

from __future__ import annotations

from pathlib import Path

import click

from jivocrm.cli.common import OK, USER_ERROR, finish, guarded
from jivocrm.core.diagnostics import render
from jivocrm.core.i18n import ngettext
from jivocrm.engine.project import load_project


def validate(path: Path, fmt: str) -> int:
    project, problems = load_project(path)
    errors = [p for p in problems if p.severity == "error"]
    if problems:
        click.echo(render(problems, fmt))
    elif fmt == "json":
        click.echo("[]")
    if errors:
        if fmt == "text":
            count = len(errors)
            files = len({p.file for p in errors})
            in_files = ngettext("in {files} file", "in {files} files", files).format(files=files)
            summary = ngettext("{count} error {in_files}", "{count} errors {in_files}", count)
            click.echo(summary.format(count=count, in_files=in_files), err=True)
        return USER_ERROR
    if fmt == "text" and project is not None:
        bundles = len(project.bundles)
        valid = ngettext(
            "ok: {file} and {count} bundle are valid",
            "ok: {file} and {count} bundles are valid",
            bundles,
        )
        click.echo(valid.format(file=project.file.name, count=bundles), err=True)
    return OK


@click.command("validate")
@click.argument("path", type=click.Path(path_type=Path), default=Path("."))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="github prints GitHub Actions annotations.",
)
def command(path: Path, fmt: str) -> None:
    """Check the project (default: the one in the current directory) and all its bundles."""
    finish(guarded(lambda: validate(path, fmt)))
