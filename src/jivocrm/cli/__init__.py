"""The ``jivocrm`` command line. One module per command, each exposing ``command``; click only
parses. Commands load lazily, so ``jivocrm validate`` does not import the daemon.

Every option can also come from a ``JIVOCRM_<COMMAND>_<OPTION>`` environment variable.
"""

from __future__ import annotations

import importlib
import sys

import click

from jivocrm import __version__
from jivocrm.cli import language
from jivocrm.core import i18n
from jivocrm.core.i18n import N_

# Command name → (module, the one line ``jivocrm --help`` shows). The help lists commands from
# here without importing them; tests/unit/test_cli_startup.py keeps each line equal to the
# first line of its command's docstring.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "jivocrm.cli.init",
        N_("Create a project: jivocrm.yaml, the default bundles with their tests, a CI workflow."),
    ),
    "validate": (
        "jivocrm.cli.validate",
        N_("Check the project (default: the one in the current directory) and all its bundles."),
    ),
    "schema": (
        "jivocrm.cli.schema",
        N_("Print the JSON Schema of a bundle or of the project file."),
    ),
    "test": (
        "jivocrm.cli.test",
        N_("Run bundle tests: an event in, the expected CRM calls, records and reply out."),
    ),
    "run": (
        "jivocrm.cli.run",
        N_(
            "Run one Jivo event (a JSON file) through the project "
            "and show everything that happened."
        ),
    ),
    "serve": (
        "jivocrm.cli.serve",
        N_("Run the daemon: receive Jivo webhooks, run the bundles, answer Jivo."),
    ),
    "send": (
        "jivocrm.cli.send",
        N_(
            "Post a Jivo event (a JSON file, or a shipped sample) to the daemon "
            "and print its reply."
        ),
    ),
    "samples": (
        "jivocrm.cli.samples",
        N_("List the sample Jivo events, print one, or save them to a folder."),
    ),
    "connections": (
        "jivocrm.cli.connections",
        N_("Check CRM connections and refresh their metadata snapshot."),
    ),
    "emulate": (
        "jivocrm.cli.emulate",
        N_("Run the built-in emulator of a CRM: the documented API, quirks included, in memory."),
    ),
    "runs": (
        "jivocrm.cli.runs",
        N_("The history of bundle runs: list, show one, replay."),
    ),
    "events": (
        "jivocrm.cli.events",
        N_("Received Jivo events and why each bundle ran on them or did not."),
    ),
    "bundles": (
        "jivocrm.cli.bundles",
        N_(
            "The project's bundles: which run and which are held; "
            "pause and resume without a commit."
        ),
    ),
    "channels": (
        "jivocrm.cli.channels",
        N_("Each Jivo channel: its webhook URL, the bundles serving it, its last event."),
    ),
    "notify": (
        "jivocrm.cli.notify",
        N_("The alert channels: send a test message to each."),
    ),
    "journal": (
        "jivocrm.cli.journal",
        N_("Look after the journal: prune old events."),
    ),
    "store": (
        "jivocrm.cli.store",
        N_("The store's schema (migrate) and health (check)."),
    ),
}


class LazyGroup(click.Group):
    """Commands import on use; the command list comes from ``COMMANDS`` alone."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command: click.Command = importlib.import_module(entry[0]).command
        return language.prepare(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, summary) for name, (_, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"auto_envvar_prefix": "JIVOCRM", "help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="jivocrm")
def cli() -> None:
    """jivocrm: Jivo chat events into CRM records, driven by YAML bundles."""


cli.context_class = language.LocalizedContext
cli.params.append(language.lang_option())


def main() -> None:
    i18n.set_language(language.choose(sys.argv[1:]))
    cli(prog_name="jivocrm")


__all__ = ["COMMANDS", "cli", "main"]
