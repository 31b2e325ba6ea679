"""What every step type is made of: its spec (schema, description, example), context and result.

A step is a small async callable ``run(ctx, params) -> StepResult``. ``params`` is the step's own
config with every template already rendered by the runner. "Nothing to do" (``when`` false, a
duplicate skipped) is a result, not an exception; a CRM failure is a ``ConnectorError`` that the
runner classifies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from jivocrm.core.i18n import N_, Text

if TYPE_CHECKING:
    from jivocrm.connectors.base import Connector
    from jivocrm.connectors.cache import ConnectionCache

Status = Literal["ok", "skipped", "failed"]

# A value a template may produce or a user may write literally.
VALUE: dict[str, Any] = {"type": ["string", "number", "integer", "boolean", "null"]}
TEXT: dict[str, Any] = {"type": "string"}
# Pipelines, stages, users and custom fields may be named by name or by id.
NAME_OR_ID: dict[str, Any] = {"type": ["string", "integer"]}
TAGS: dict[str, Any] = {
    "type": "array",
    "items": VALUE,
    "description": "Tags by name (new ones are added to the account), for a CRM whose deals "
    "have tags; empty ones are left out.",
}


# Said after a create step that was resumed in `create` mode (the CRM may hold a duplicate).
RESUMED_NOTE = N_(" (resumed in create mode: a duplicate from the interrupted try may exist)")
# The records steps write, as their messages name them.
RECORDS = {
    "contact": N_("contact"),
    "deal": N_("deal"),
    "lead": N_("lead"),
    "company": N_("company"),
    "customer": N_("customer"),
    "order": N_("order"),
    "task": N_("task"),
    "note": N_("note"),
}


def resumed_note(uncertain: bool) -> str:
    return Text(RESUMED_NOTE) if uncertain else ""


def record_word(kind: Any) -> str:
    """``kind`` (``deal``…) as the reader's language names it."""
    return Text(RECORDS[kind]) if isinstance(kind, str) and kind in RECORDS else str(kind)


def duplicates_schema(
    match: list[str], default_match: list[str], default_mode: str = "create"
) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "What to do when the record already exists.",
        "additionalProperties": False,
        "properties": {
            "mode": {
                "enum": ["create", "skip", "update", "update_only"],
                "description": "create: always create; skip: reuse the found record; update: "
                "update the found record or create; update_only: never create.",
                "default": default_mode,
            },
            "match": {
                "type": "array",
                "items": {"enum": match},
                "minItems": 1,
                "uniqueItems": True,
                "default": default_match,
            },
        },
        "required": ["mode"],
    }


@dataclass
class StepResult:
    status: Status
    output: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    # A create step resumed after a crash in `create` mode: the CRM may hold a duplicate.
    uncertain: bool = False


@dataclass(eq=False)
class PendingContact:
    """A contact new_contact decided to create but left to a later new_deal step.

    The pair is then created in ONE call where the CRM can (``create_deal_with_contact``: one
    request that makes both, or one batch). ``{{ steps.<contact>.id }}`` renders to this
    object; the deal step fills ``contact_id`` when it created both, else the runner creates
    the contact alone.
    """

    step_id: str
    data: Any  # connectors.base.ContactData
    contact_id: str | None = None
    # The CRM's own duplicate control merged the pair into records it already had.
    merged: bool = False

    def __str__(self) -> str:
        return f"<new contact of step {self.step_id}, created together with the deal>"


@dataclass(eq=False)
class PendingDeal:
    """A deal new_deal decided to create but left to a later step that writes on it (add_note)
    on a CRM that takes a run's writes in one request (``connectors.spec.CHAINED_WRITES``).

    ``{{ steps.<deal>.id }}`` renders to this object; the later step makes the deal (with its
    pending contact, if any) and its own record in ONE call and fills ``deal_id``, else the
    runner makes the deal alone.
    """

    step_id: str
    data: Any  # connectors.base.DealData
    contact: PendingContact | None = None
    deal_id: str | None = None

    def __str__(self) -> str:
        return f"<new deal of step {self.step_id}, created together with the next write>"


@dataclass
class StepContext:
    """What a step may use besides its params."""

    step_id: str
    bundle: str
    connector: Connector | None
    cache: ConnectionCache | None
    dry_run: bool = False
    # The step started before (a crash or retry) without a recorded result: a create step must
    # look up what it may already have created before creating again.
    resumed: bool = False
    region: str = "RU"
    # Records "about to write" in the journal before the CRM call, so a crash between the call
    # and the result is visible later.
    mark_started: Callable[[], Awaitable[None]] | None = None
    # Writes that --dry-run did not send, for the report.
    would_send: list[dict[str, Any]] = field(default_factory=list)
    # The parsed event (computed fields included), for steps that fill defaults from it.
    event: Mapping[str, Any] = field(default_factory=dict)
    # The run's clock: due dates and sent-at times are relative to it.
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str | None = None
    # new_contact may leave a creation to the new_deal step that links to it (PendingContact).
    defer_contact: bool = False
    # new_deal may leave its creation to a later step that writes on the deal (PendingDeal).
    defer_deal: bool = False
    # The run's journal outlives the process (the daemon's store): the run may resume after a
    # crash, so a write is marked to be found again (add_note).
    durable: bool = False
    # The run, as the owner of the claims its steps take (see writing.claim_person).
    holder: object | None = None


StepFn = Callable[[StepContext, Mapping[str, Any]], Awaitable[StepResult]]
KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class CrmNames:
    """Where a step names what its CRM's account holds, for validate to check against the
    metadata snapshot: users, a pipeline and its stage, custom fields of an entity."""

    users: tuple[KeyPath, ...] = ()
    pipeline: KeyPath | None = None  # the mapping that holds `pipeline` and `stage`
    custom: tuple[tuple[KeyPath, str], ...] = ()  # (a mapping of custom fields, its entity)


@dataclass(frozen=True)
class StepSpec:
    type: str
    description: str
    # JSON Schema of the step's own keys (the common ones — id, type, connection, when, on_error —
    # are added by the bundle schema).
    params: Mapping[str, Any]
    required: tuple[str, ...]
    outputs: Mapping[str, str]  # output name → description
    example: Mapping[str, Any]
    run: StepFn
    # What the step asks of its connection's CRM (a ``connectors.spec`` capability); None = the
    # step needs no connection.
    needs: str | None = None
    writes: bool = False
    # The step makes (a part of) the reply to Jivo: only under triggers whose reply Jivo reads.
    reply: bool = False
    # A write the step may leave to a later step on the same connection that takes it
    # (``takes_pending``), so the CRM gets both in one call: how to write it when none does.
    writes_pending: Callable[[StepContext, Any], Awaitable[str]] | None = None
    # Where the step takes an earlier step's pending write (a dotted path in its params, e.g.
    # ``fields.contact``): its template is exactly ``{{ steps.<that step>.id }}``.
    takes_pending: str | None = None
    # The step type whose pending write it takes, and the capability its connection's CRM
    # needs for the hand-over (None: every CRM).
    takes_pending_of: str | None = None
    takes_pending_needs: str | None = None
    # Keys of the step (dotted paths) that only some CRMs take → the capability they need.
    key_needs: Mapping[str, str] = field(default_factory=dict)
    names: CrmNames = CrmNames()
