"""Exceptions of jivocrm.

The tree, top down::

    JivoCRMError                  anything jivocrm raises on purpose; str() is the user-facing text
                                  in English, ``localized(error.message)`` in the reader's language
    ├── ProjectError              the project or a bundle is wrong; carries every Diagnostic
    ├── TemplateError             a template failed to render (missing field, sandbox, size cap)
    ├── StepError                 a step could not do its job for a reason that is not the CRM's
    ├── StoreError                the store refused or failed (disk full, unreachable, schema)
    └── ConnectorError            a CRM answered with an error or could not be reached
        ├── RetriableError        try again later: network, timeout, 429, 5xx, CRM rate limits
        ├── AuthError             credentials are wrong, expired or lack rights
        └── FatalError            the request itself is wrong; retrying gives the same answer

Every message says what to do next. Connector errors are classified in one place per connector
(``classify`` in its ``errors`` module); tenacity retries only ``RetriableError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jivocrm.core.diagnostics import Diagnostic


class JivoCRMError(Exception):
    """Base of every error jivocrm raises on purpose."""

    @property
    def message(self) -> str:
        """The message as it was made: a :class:`~jivocrm.core.i18n.Text` where one was given,
        which a person can read in their language (``localized``); ``str()`` is the English."""
        first = self.args[0] if len(self.args) == 1 else None
        return first if isinstance(first, str) else str(self)


class ProjectError(JivoCRMError):
    """The project or one of its bundles is invalid."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class TemplateError(JivoCRMError):
    """A template could not be rendered."""


class StepError(JivoCRMError):
    """A step could not do its job (bad mapped value, unknown pipeline name, ...)."""


class StoreError(JivoCRMError):
    """The store failed or refused an operation."""


class ConnectorError(JivoCRMError):
    """A CRM call failed. ``status`` is the HTTP status when there was an answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        # What a call of several writes made before the part that failed (a batch): record
        # kind → id, so nothing is made a second time.
        self.written: dict[str, str] = {}


class RetriableError(ConnectorError):
    """Transient: network, timeouts, 429, 5xx, rate limits. ``retry_after``: the CRM's hint."""


class AuthError(ConnectorError):
    """Credentials are wrong, expired, revoked or lack the needed rights or scopes."""


class FatalError(ConnectorError):
    """The request is wrong (validation, unknown method); repeating it gives the same answer."""
