"""``jivocrm validate [PATH]``: every problem of the project, compiler style."""

from __future__ import annotations

from pathlib import Path

import click

from jivocrm.cli.common import OK, USER_ERROR, finish, guarded
from jivocrm.core.diagnostics import render
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
            plural = ("s" if count != 1 else "", "s" if files != 1 else "")
            click.echo(f"{count} error{plural[0]} in {files} file{plural[1]}", err=True)
        return USER_ERROR
    if fmt == "text" and project is not None:
        click.echo(
            f"ok: {project.file.name} and {len(project.bundles)} "
            f"bundle{'s' if len(project.bundles) != 1 else ''} are valid",
            err=True,
        )
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
