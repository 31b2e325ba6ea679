"""What every command shares: the exit-code contract, crash reports, output formats."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from jivocrm.core.errors import JivoCRMError
from jivocrm.core.i18n import N_, _, localized

OK, USER_ERROR, USAGE = 0, 1, 2
CRASH = 70
BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader left

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help=N_("text for people, json for scripts."),
)


def finish(code: int) -> None:
    """Exit with ``code`` (commands are plain functions returning an exit code)."""
    sys.exit(code)


def guarded(fn: Callable[[], int]) -> int:
    """Run a command body: known errors → one line and exit 1; anything else → a crash report."""
    try:
        return fn()
    except JivoCRMError as exc:
        click.echo(_("error: {message}").format(message=_message(exc)), err=True)
        return USER_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``jivocrm … | head``): not a crash. Point stdout at /dev/null so
        # the interpreter's last flush does not raise again, and exit as a killed-by-SIGPIPE tool.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE
    except Exception as exc:
        report = write_crash_report(exc)
        said = _("jivocrm crashed: {error}: {message}. Crash report: {report}")
        click.echo(said.format(error=type(exc).__name__, message=exc, report=report), err=True)
        return CRASH


def _message(exc: JivoCRMError) -> str:
    """The error's text in the reader's language where it was made as a ``Text``."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return localized(first) if isinstance(first, str) and str(exc) == first else str(exc)


def write_crash_report(exc: BaseException) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    folder = Path(".jivocrm")
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
    path = folder / f"crash-{stamp}.txt"
    text = "".join(traceback.format_exception(exc))
    # A traceback may quote event data: readable by the owner only, like the store.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as out:
        out.write(f"jivocrm crash at {stamp}\nargv: {sys.argv}\n\n{text}")
    return path


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
