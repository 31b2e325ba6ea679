"""Claims on a person's keys: a second run matching the same person waits for the first."""

from __future__ import annotations

import asyncio

from jivocrm.core.claims import Claims


async def test_a_second_owner_waits_until_the_first_lets_go() -> None:
    claims = Claims()
    first, second = object(), object()
    assert await claims.claim(first, ["phone:+79265550102", "email:a@b.ru"])
    waiting = asyncio.create_task(claims.claim(second, ["email:a@b.ru"]))
    await asyncio.sleep(0)
    assert not waiting.done()
    await claims.release(first)
    assert await waiting
    assert claims.holder("email:a@b.ru") is second
    assert claims.holder("phone:+79265550102") is None


async def test_an_owner_keeps_what_it_holds_and_takes_more() -> None:
    claims = Claims()
    owner = object()
    assert await claims.claim(owner, ["phone:1"])
    assert await claims.claim(owner, ["phone:1", "email:x"])
    assert (claims.holder("phone:1"), claims.holder("email:x")) == (owner, owner)


async def test_other_keys_never_wait() -> None:
    claims = Claims()
    assert await claims.claim(object(), ["phone:1"])
    assert await claims.claim(object(), ["phone:2"])


async def test_a_claim_not_had_in_time_is_given_up_not_waited_for_forever() -> None:
    claims = Claims(wait=0.01)
    first, second = object(), object()
    await claims.claim(first, ["phone:1"])
    assert await claims.claim(second, ["phone:1"]) is False
    assert claims.holder("phone:1") is first
