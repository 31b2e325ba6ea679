"""``jivocrm schema bundle|project``: the JSON Schemas, for editors."""

from __future__ import annotations

import json

import click

from jivocrm.cli.common import OK, finish
from jivocrm.engine.schema import bundle_schema, project_schema


def schema(kind: str) -> int:
    data = bundle_schema() if kind == "bundle" else project_schema()
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    return OK


@click.command("schema")
@click.argument("kind", type=click.Choice(["bundle", "project"]))
def command(kind: str) -> None:
    """Print the JSON Schema of a bundle or of the project file.

    Save it and point your editor at it, e.g. first line of a bundle:
    # yaml-language-server: $schema=../.jivocrm/bundle.schema.json
    """
    finish(schema(kind))
