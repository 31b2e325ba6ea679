"""Which language a command speaks, decided before click builds any help.

In order: ``--lang`` (on the group or on the command), ``JIVOCRM_LANG``, the project file's
``language:``, then LANGUAGE/LC_ALL/LC_MESSAGES/LANG, then English. The choice is made from the
raw arguments in ``main`` so ``--help`` is already in that language; click still parses
``--lang`` (every command takes it) so it is never an unknown option.

Help texts stay English in the code (docstrings, ``help=``) and are translated where click
writes them (``LocalizedFormatter``); ``help_catalogue.py`` puts them in the catalogue.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from jivocrm.core import i18n
from jivocrm.core.i18n import N_, _

ENV_VARIABLE = "JIVOCRM_LANG"
PROJECT_FILE = "jivocrm.yaml"
# A top-level `language: ru` of the project file. Read without loading YAML: the full loader
# is the validator's business, and a broken project still gets its diagnostics in its language.
_LANGUAGE_KEY = re.compile(r"""^language:[ \t]*["']?([A-Za-z_-]+)["']?[ \t]*(?:#.*)?$""", re.M)

# The commands whose PATH argument is the project, and the options of theirs that take a value.
PATH_COMMANDS = ("validate", "serve")
VALUE_OPTIONS = frozenset({"--format", "--lang", "--host", "--port", "--workers"})

LANG_HELP = N_("The language of the messages: ru or en (default: from the environment).")

# click's own words in the help it builds (it translates them with its own gettext domain,
# which jivocrm does not ship).
CLICK_WORDS = {
    "Usage: ": N_("Usage: "),
    "Options": N_("Options"),
    "Commands": N_("Commands"),
    "Arguments": N_("Arguments"),
    "Show this message and exit.": N_("Show this message and exit."),
    "Show the version and exit.": N_("Show the version and exit."),
}
_EXTRA = re.compile(r"^(?P<text>.*?)(?P<extra>\s*\[(?P<inner>[^\[\]]*)\])?$", re.S)
_EXTRA_WORDS = {"default": N_("default"), "required": N_("required")}


def _option_value(args: Sequence[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == "--":
            return None
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _project_path(args: Sequence[str], environ: Mapping[str, str]) -> Path:
    given = _option_value(args, "--project")
    if given is None:
        given = next(
            (v for k, v in environ.items() if k.startswith("JIVOCRM_") and k.endswith("_PROJECT")),
            None,
        )
    command = next((a for a in args if a in PATH_COMMANDS), None)
    if given is None and command is not None:
        # `jivocrm validate|serve [PATH]`: the first word after the command that is neither an
        # option nor an option's value
        after = list(args[list(args).index(command) + 1 :])
        skip = False
        for word in after:
            if skip:
                skip = False
            elif word == "--":
                break
            elif word.startswith("-"):
                skip = word in VALUE_OPTIONS
            else:
                given = word
                break
    path = Path(given or ".")
    return path / PROJECT_FILE if path.is_dir() else path


def from_project(path: Path) -> str | None:
    """The ``language:`` the project file at ``path`` names, None where it names none."""
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return None
    found = _LANGUAGE_KEY.search(text)
    return i18n.normalize(found.group(1)) if found else None


def choose(args: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """The language of the command line ``args`` (without the program name)."""
    environ = os.environ if environ is None else environ
    for candidate in (_option_value(args, "--lang"), environ.get(ENV_VARIABLE)):
        if (language := i18n.normalize(candidate)) is not None:
            return language
    return (
        from_project(_project_path(args, environ)) or i18n.from_environment(environ) or i18n.SOURCE
    )


def _set_language(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    # For as long as the command runs (main has chosen it already; an in-process caller such
    # as a test has not, and must find its own language again afterwards).
    if value is not None:
        ctx.with_resource(i18n.language(value))


def lang_option() -> click.Option:
    return click.Option(
        ["--lang"],
        type=click.Choice(list(i18n.LANGUAGES)),
        envvar=ENV_VARIABLE,
        expose_value=False,
        is_eager=True,
        callback=_set_language,
        help=LANG_HELP,
    )


def translate_help(text: str) -> str:
    """A help text (a docstring, an option's help with click's ``[default: …]``) translated."""
    if not text or i18n.current() == i18n.SOURCE:
        return text
    found = _EXTRA.match(text)
    if found is None or found.group("extra") is None:
        return _(CLICK_WORDS.get(text, text))
    inner = found.group("inner")
    word, sep, rest = inner.partition(":")
    word = _(_EXTRA_WORDS[word]) if word in _EXTRA_WORDS else word
    said = _(found.group("text")) if found.group("text") else ""
    return f"{said}  [{word}{sep}{rest}]" if said else f"[{word}{sep}{rest}]"


class LocalizedFormatter(click.HelpFormatter):
    """click's formatter, writing every text in the current language."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _(CLICK_WORDS["Usage: "]) if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        super().write_heading(_(CLICK_WORDS.get(heading, heading)))

    def write_text(self, text: str) -> None:
        super().write_text(translate_help(text))

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl(
            [(term, translate_help(text)) for term, text in rows], col_max, col_spacing
        )


class LocalizedContext(click.Context):
    formatter_class = LocalizedFormatter


def _tree(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _tree(sub)


def prepare(command: click.Command) -> click.Command:
    """``command`` and its subcommands take ``--lang`` and write their help translated."""
    for each in _tree(command):
        each.context_class = LocalizedContext
        if not any(p.name == "lang" for p in each.params):
            each.params.append(lang_option())
    return command


__all__ = ["ENV_VARIABLE", "LocalizedContext", "choose", "from_project", "lang_option", "prepare"]
