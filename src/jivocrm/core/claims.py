"""Claims on keys held by an owner until it lets go, waited for by everyone else.

A run that looks a person up by phone or e-mail and then creates them claims those keys for the
rest of the run: another run matching the same person (a second chat of the same new visitor,
in a lane of its own) waits until the first has created the contact, then finds it instead of
creating a duplicate. Keys are taken in sorted order; a claim that cannot be had within ``wait``
seconds is given up with a warning (two runs crossing over two keys never stall each other for
longer than that). Several daemon instances on one PostgreSQL database share their claims there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

import structlog

log = structlog.get_logger("jivocrm.claims")

WAIT = 30.0


class PersonClaims(Protocol):
    """Claims of one connection: in this process (``Claims``), or in the store every instance
    shares (``store.postgres_claims.PostgresClaims``)."""

    async def claim(self, owner: object, keys: Iterable[str]) -> bool: ...

    async def release(self, owner: object) -> None: ...


class Claims:
    def __init__(self, wait: float = WAIT) -> None:
        self.wait = wait
        self._held: dict[str, tuple[object, asyncio.Event]] = {}

    def holder(self, key: str) -> object | None:
        held = self._held.get(key)
        return held[0] if held else None

    async def claim(self, owner: object, keys: Iterable[str]) -> bool:
        """Hold ``keys`` for ``owner`` (already held ones are kept); False if one was given up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        complete = True
        for key in sorted(set(keys)):
            while (held := self._held.get(key)) is not None and held[0] is not owner:
                try:
                    await asyncio.wait_for(held[1].wait(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    log.warning("claim_given_up", key_kind=key.split(":", 1)[0], wait=self.wait)
                    complete = False
                    break
            else:
                if held is None:
                    self._held[key] = (owner, asyncio.Event())
        return complete

    async def release(self, owner: object) -> None:
        for key, (holder, event) in list(self._held.items()):
            if holder is owner:
                del self._held[key]
                event.set()
