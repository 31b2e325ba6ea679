"""``jivocrm samples [NAME] [--write DIR]``: the Jivo events shipped with jivocrm.

Without NAME, the list (each event, and its ``-no-contacts`` variant whose visitor left no phone
or e-mail); with NAME, that event as JSON, ready for ``jivocrm run`` or a bundle test's
``event:``. ``--write DIR`` saves them (all, or NAME) as ``DIR/<name>.json``.
"""

from __future__ import annotations

from pathlib import Path

import click

from jivocrm.cli.common import OK, finish, guarded
from jivocrm.core.i18n import _


def show(name: str | None, write: Path | None) -> int:
    from jivocrm import samples

    chosen = [name] if name else samples.names()
    if write is not None:
        write.mkdir(parents=True, exist_ok=True)
        for item in chosen:
            (write / f"{item}.json").write_text(samples.text(item), "utf-8")
        said = _("wrote {count} sample event(s) to {folder}")
        click.echo(said.format(count=len(chosen), folder=write))
        return OK
    if name:
        click.echo(samples.text(name), nl=False)
        return OK
    for item in chosen:
        click.echo(item)
    return OK


@click.command("samples")
@click.argument("name", required=False)
@click.option(
    "--write",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save the sample(s) as DIR/<name>.json instead of printing.",
)
def command(name: str | None, write: Path | None) -> None:
    """List the sample Jivo events, print one, or save them to a folder."""
    finish(guarded(lambda: show(name, write)))
