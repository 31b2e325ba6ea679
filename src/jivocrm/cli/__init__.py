"""The ``jivocrm`` command line. One module per command, each exposing ``command``; click only
parses. Commands load lazily, so ``jivocrm validate`` does not import the daemon.

Every option can also come from a ``JIVOCRM_<COMMAND>_<OPTION>`` environment variable.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from jivocrm import __version__

COMMANDS: dict[str, str] = {
    "init": "jivocrm.cli.init",
    "validate": "jivocrm.cli.validate",
    "schema": "jivocrm.cli.schema",
    "test": "jivocrm.cli.test",
    "run": "jivocrm.cli.run",
    "serve": "jivocrm.cli.serve",
    "send": "jivocrm.cli.send",
    "connections": "jivocrm.cli.connections",
    "emulate": "jivocrm.cli.emulate",
    "runs": "jivocrm.cli.runs",
    "events": "jivocrm.cli.events",
    "channels": "jivocrm.cli.channels",
    "journal": "jivocrm.cli.journal",
    "store": "jivocrm.cli.store",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, module in COMMANDS.items() if importlib.util.find_spec(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None or importlib.util.find_spec(module) is None:
            return None
        command: click.Command = importlib.import_module(module).command
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"auto_envvar_prefix": "JIVOCRM", "help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="jivocrm")
def cli() -> None:
    """jivocrm: Jivo chat events into amoCRM and Bitrix24, driven by YAML bundles."""


def main() -> None:
    cli(prog_name="jivocrm")


__all__ = ["COMMANDS", "cli", "main"]
