"""The connector interface: everything a step may ask of a CRM, and the records it gets back.

A connector is built from its connection config and an ``aiohttp.ClientSession`` owned by the
caller (the daemon, ``jivocrm run``, a test). It never creates sessions of its own. Every HTTP call
goes through ``jivocrm.connectors.http.Transport``, which rate-limits, retries the retriable,
classifies answers with the connector's own ``classify`` and records the call for the journal.

Ids travel as strings: some CRMs use numbers, others text, and a step passes them on untouched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

EntityKind = Literal["contact", "deal", "lead", "company"]


@dataclass(frozen=True)
class CrmUser:
    id: str
    name: str
    email: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Stage:
    id: str
    name: str
    # "open", "won" or "lost"; a deal in a won/lost stage is closed.
    kind: str = "open"


@dataclass(frozen=True)
class Pipeline:
    id: str
    name: str
    stages: tuple[Stage, ...]
    is_main: bool = False


# Field types whose values are one (or several) of the field's options: select, multiselect,
# radiobutton, enumeration (as the CRMs call them).
CHOICE_TYPES = frozenset({"select", "multiselect", "radiobutton", "enumeration"})


@dataclass(frozen=True)
class CustomField:
    id: str
    name: str
    entity: EntityKind
    code: str | None = None
    type: str | None = None
    enums: tuple[tuple[str, str], ...] = ()  # (id, value)

    @property
    def options(self) -> tuple[tuple[str, str], ...]:
        """(id, text) of the values the field takes, or () when it takes any value."""
        return self.enums if self.type in CHOICE_TYPES else ()

    def option(self, value: Any) -> str | None:
        """The id of the option ``value`` names (by its text, ignoring case, or by id)."""
        wanted = str(value).strip()
        for eid, text in self.enums:
            if text.strip().casefold() == wanted.casefold():
                return eid
        return next((eid for eid, _ in self.enums if eid == wanted), None)


@dataclass(frozen=True)
class Metadata:
    """What a CRM account holds that bundles name: pipelines and stages, users, custom fields."""

    pipelines: tuple[Pipeline, ...] = ()
    users: tuple[CrmUser, ...] = ()
    custom_fields: tuple[CustomField, ...] = ()


@dataclass
class ContactData:
    """A contact to create or the changes to write. Phones are E.164, e-mails lower-case."""

    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    responsible_id: str | None = None
    # custom field id (resolved from a name through metadata by the step) → value
    custom: dict[str, Any] = field(default_factory=dict)
    # The CRM's own fields passed through as-is (e.g. a source or a comment field)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Contact:
    id: str
    name: str | None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    responsible_id: str | None = None


@dataclass
class DealData:
    name: str | None = None
    pipeline_id: str | None = None
    stage_id: str | None = None
    price: float | None = None
    responsible_id: str | None = None
    contact_id: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(
        default_factory=list
    )  # for a CRM whose deals have tags (spec.DEAL_TAGS)


@dataclass(frozen=True)
class Deal:
    id: str
    name: str | None
    pipeline_id: str | None
    stage_id: str | None
    closed: bool = False


@dataclass
class LeadData:
    """A lead, for a CRM that keeps leads apart from deals (spec.LEADS); a CRM that calls its deals
    "leads" gets ``DealData``."""

    title: str | None = None
    name: str | None = None
    last_name: str | None = None
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    status_id: str | None = None
    source_id: str | None = None
    responsible_id: str | None = None
    comments: str | None = None
    contact_id: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskData:
    text: str
    due: datetime
    responsible_id: str | None = None
    entity_kind: EntityKind | None = None
    entity_id: str | None = None
    title: str | None = None


@dataclass
class UnsortedData:
    """An «Неразобранное» form request (spec.UNSORTED): a lead and a contact waiting to be
    accepted."""

    source_uid: str
    source_name: str
    lead_name: str
    contact: ContactData
    pipeline_id: str | None = None
    price: float | None = None
    request_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # The lead's responsible user, custom (tracking) fields and tags, as a form request has them.
    lead_responsible_id: str | None = None
    lead_custom: dict[str, Any] = field(default_factory=dict)
    lead_tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Created:
    """The ids of what a create call made."""

    id: str
    contact_id: str | None = None  # set by create_deal_with_contact
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Note:
    """A note on a record as a list of notes shows it."""

    id: str
    text: str


@dataclass(frozen=True)
class CheckResult:
    """One line of ``jivocrm connections check``."""

    name: str  # "reachable", "authenticated", "rights"
    ok: bool
    detail: str


class Connector(ABC):
    """A CRM account. Subclasses: one per CRM, registered in ``jivocrm.connectors.CONNECTORS``."""

    type: str  # the CRM's key in jivocrm.connectors.CONNECTORS
    # True when find_contacts costs one request whatever it is given (one batch); else a
    # duplicate check searches field by field and stops at the first hit (a search that
    # takes one value per request).
    search_in_one_call: bool = False

    # ---- users -------------------------------------------------------------------------------
    @abstractmethod
    async def list_users(self) -> list[CrmUser]: ...

    async def find_user(self, login: str) -> CrmUser | None:
        """A user whose e-mail (the CRM login) equals ``login``, ignoring case."""
        wanted = login.strip().casefold()
        for user in await self.list_users():
            if user.email and user.email.strip().casefold() == wanted:
                return user
        return None

    # ---- contacts ----------------------------------------------------------------------------
    @abstractmethod
    async def find_contacts(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[Contact]:
        """Contacts holding any of the phones (E.164) or e-mails, oldest first."""

    async def find_contact_ids(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        """(id, "phone" | "email") of the contacts holding the values, oldest first: what a
        duplicate check in skip mode needs. A CRM whose search returns ids only
        answers without reading the contacts."""
        found = await self.find_contacts(phones=phones, emails=emails)
        wanted = set(phones)
        return [(c.id, "phone" if wanted & set(c.phones) else "email") for c in found]

    @abstractmethod
    async def create_contact(self, data: ContactData) -> Created: ...

    @abstractmethod
    async def update_contact(self, contact_id: str, data: ContactData) -> None: ...

    # ---- deals -------------------------------------------------------------------------------
    @abstractmethod
    async def find_open_deals(self, contact_id: str, pipeline_id: str | None = None) -> list[Deal]:
        """Open (not won/lost) deals linked to the contact, optionally in one pipeline."""

    @abstractmethod
    async def create_deal(self, data: DealData) -> Created: ...

    @abstractmethod
    async def update_deal(self, deal_id: str, data: DealData) -> None: ...

    async def create_deal_with_contact(self, deal: DealData, contact: ContactData) -> Created:
        """A new deal and a new contact linked to it, in as few calls as the CRM allows.

        ``Created.id`` is the deal, ``Created.contact_id`` the contact. The default makes two calls.
        """
        made = await self.create_contact(contact)
        deal.contact_id = made.id
        created = await self.create_deal(deal)
        return Created(created.id, contact_id=made.id)

    async def create_deal_with_note(
        self, deal: DealData, contact: ContactData | None, kind: EntityKind, text: str
    ) -> Created:
        """A new deal (with a new contact when ``contact`` is given) and a note on it, in as few
        calls as the CRM allows (``connectors.spec.CHAINED_WRITES``: one).

        ``Created.id`` is the note, ``Created.contact_id`` the contact, ``extra["deal_id"]`` the
        deal. The default makes the deal as ``create_deal_with_contact`` does, then the note."""
        if contact is not None:
            made = await self.create_deal_with_contact(deal, contact)
        else:
            made = await self.create_deal(deal)
        note = await self.add_note(kind, made.id, text)
        return Created(note.id, contact_id=made.contact_id, extra={"deal_id": made.id})

    # ---- other records -----------------------------------------------------------------------
    async def create_lead(self, data: LeadData) -> Created:
        raise NotImplementedError(f"{self.type} has no leads; use new_deal")

    async def find_lead_ids(
        self, *, phones: Sequence[str] = (), emails: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        """(id, "phone" | "email") of the leads holding the values, oldest first."""
        raise NotImplementedError(f"{self.type} has no leads; use new_deal")

    async def update_lead(self, lead_id: str, data: LeadData) -> None:
        raise NotImplementedError(f"{self.type} has no leads; use new_deal")

    @abstractmethod
    async def create_task(self, data: TaskData) -> Created: ...

    @abstractmethod
    async def add_note(self, kind: EntityKind, entity_id: str, text: str) -> Created: ...

    def option_value(self, option_id: str) -> Any:
        """How a list field's option is written in a record's custom fields: by default its id
        as the CRM listed it; a CRM that wants an object there says so."""
        return option_id

    async def recent_notes(self, kind: EntityKind, entity_id: str) -> list[Note]:
        """The newest notes of a record (one page, newest first): what a resumed note step
        searches for the note it may already have written. A CRM that cannot list notes
        raises ``NotImplementedError``, and the note is written again."""
        raise NotImplementedError(f"{self.type} cannot list notes")

    async def create_unsorted(self, data: UnsortedData) -> Created:
        raise NotImplementedError(f"{self.type} has no unsorted leads")

    # ---- links, metadata, diagnosis ----------------------------------------------------------
    @abstractmethod
    def entity_url(self, kind: EntityKind, entity_id: str) -> str:
        """The link that opens the record in the CRM's web interface."""

    @abstractmethod
    async def fetch_metadata(self) -> Metadata: ...

    @abstractmethod
    async def check(self) -> list[CheckResult]:
        """Reachability, authentication, rights/scopes, each with a diagnosis saying what to do."""
