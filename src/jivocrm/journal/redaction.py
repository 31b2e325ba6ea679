"""Redaction for what the journal shows: secrets always, phones and e-mails on request.

Nothing is defined twice: the masking is the log redactor's (``logs.Redactor``: one idea of what a
phone or an e-mail looks like for logs and journal alike) and the secrets are the daemon's
(``engine.secrets.secret_values``: the values behind the project's ``${VAR}`` references). This
module only decides what to hide when the journal of a project is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jivocrm.core.logs import MASK, Redactor
from jivocrm.engine.model import Project
from jivocrm.engine.secrets import secret_values


def journal_redactor(
    project: Project | None, environ: Mapping[str, str] | None = None, *, personal: bool = False
) -> Redactor:
    """What to hide when showing the journal of ``project``: its secrets, and phones/e-mails
    when ``journal.redact_personal_data`` is set (``personal`` forces that)."""
    if project is None:
        return Redactor((), personal)
    return Redactor(
        secret_values(project, project.environ if environ is None else environ),
        personal or project.journal.redact_personal_data,
    )


def redact_personal(value: Any) -> Any:
    """``value`` (a string or nested dicts/lists) with phones and e-mails masked."""
    return Redactor((), personal=True).value(value)


__all__ = ["MASK", "journal_redactor", "redact_personal"]
