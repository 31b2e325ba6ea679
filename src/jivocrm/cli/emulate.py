"""``jivocrm emulate CRM``: a CRM emulator on this machine, to try bundles on."""

from __future__ import annotations

from pathlib import Path

import click
from aiohttp import web

from jivocrm.cli.common import OK, finish, guarded
from jivocrm.connectors import CONNECTORS
from jivocrm.core.i18n import _


def snippet(crm: str, url: str) -> str:
    """The ``connections:`` YAML to paste into a project to use the emulator at ``url``, and the
    values its variables take there, as comments."""
    import io

    from ruamel.yaml import YAML

    spec = CONNECTORS[crm]
    connection = spec.emulator_connection(url)
    yaml = YAML()
    yaml.default_flow_style = False
    text = io.StringIO()
    yaml.dump({"connections": {spec.scaffold.connection: dict(connection.entry)}}, text)
    notes = "".join(f"# {k}={v}\n" for k, v in connection.variables.items())
    return text.getvalue() + notes


def emulate(crm: str, host: str, port: int, seed: Path | None) -> int:
    app = CONNECTORS[crm].emulator(seed)
    url = f"http://{host}:{port}"
    title = CONNECTORS[crm].title
    click.echo(
        _("{crm} emulator on {url} (state: GET {url}/_emulator/state)").format(crm=title, url=url)
    )
    click.echo(_("Use it from a project (jivocrm.yaml):") + "\n" + snippet(crm, url), nl=False)
    web.run_app(app, host=host, port=port, print=None, access_log=None)
    return OK


@click.command("emulate")
@click.argument("crm", type=click.Choice(sorted(CONNECTORS)))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8090, show_default=True)
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file with the account's users, pipelines, contacts… (default: a demo account).",
)
def command(crm: str, host: str, port: int, seed: Path | None) -> None:
    """Run the built-in emulator of a CRM: the documented API, quirks included, in memory."""
    finish(guarded(lambda: emulate(crm, host, port, seed)))
