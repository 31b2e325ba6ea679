"""Sample Jivo webhook bodies shipped with jivocrm: one per documented event, and for each event
that carries a visitor a variant whose visitor left no phone and no e-mail.

They are what ``jivocrm samples`` prints, what ``jivocrm send --sample NAME`` posts, what
``jivocrm init`` copies into a new project's ``samples/`` folder for its bundle tests, and what
this package's own tests feed the engine. Names, phones and ids are fictitious.

    >>> from jivocrm import samples
    >>> samples.load("chat_accepted")["event_name"]
    'chat_accepted'
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from jivocrm.core.errors import JivoCRMError

# A variant's name is ``<event>-no-contacts``.
NO_CONTACTS = "-no-contacts"


def _folder() -> Traversable:
    return resources.files(__name__)


def names() -> list[str]:
    """Every sample: each event, followed by its variant without contacts (if it has a visitor)."""
    found = sorted(
        p.name.removesuffix(".json") for p in _folder().iterdir() if p.name.endswith(".json")
    )
    out = []
    for name in found:
        out.append(name)
        if _has_visitor(name):
            out.append(name + NO_CONTACTS)
    return out


def _has_visitor(name: str) -> bool:
    return isinstance(_read(name).get("visitor"), dict)


def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_folder().joinpath(f"{name}.json").read_text("utf-8"))
    return data


def without_contacts(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` whose visitor left no phone and no e-mail (the "without contacts" bundles)."""
    out = copy.deepcopy(event)
    visitor = out.get("visitor")
    if isinstance(visitor, dict):
        visitor.update(phone=None, email=None)
    return out


def load(name: str) -> dict[str, Any]:
    """The sample ``name`` (``chat_accepted``, ``chat_accepted-no-contacts``…), a fresh copy."""
    base = name.removesuffix(NO_CONTACTS)
    if base not in names():
        known = ", ".join(n for n in names() if not n.endswith(NO_CONTACTS))
        raise JivoCRMError(f"no sample {name!r}; the samples are {known} (each also {NO_CONTACTS})")
    event = _read(base)
    return without_contacts(event) if name.endswith(NO_CONTACTS) else event


def text(name: str) -> str:
    """The sample as the JSON text Jivo would post (UTF-8, indented for reading)."""
    return json.dumps(load(name), ensure_ascii=False, indent=2) + "\n"


__all__ = ["NO_CONTACTS", "load", "names", "text", "without_contacts"]
