"""``jivocrm channels check`` against ``jivocrm serve`` on loopback: the URL Jivo must have,
whether it reaches this daemon, when Jivo last delivered, and Jivo's own steps when it never did."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from jivocrm.journal.channels import JIVO_PATH
from jivocrm.testing.net import free_port
from journal_world import World, journal_world, sample


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The shop channel delivered one event; the blog channel never did."""
    with journal_world(tmp_path_factory.mktemp("channels")) as w:
        w.send(sample(chat_id=1, visitor={"phone": "+79161234567"}))
        w.settle()
        yield w


def with_public_url(w: World, url: str | None) -> None:
    path = w.root / "jivocrm.yaml"
    text = re.sub(r"public_url: [^,}]+, ", "", path.read_text("utf-8"))
    if url:
        text = text.replace("server: {", f"server: {{public_url: {url}, ", 1)
    path.write_text(text, "utf-8")


def checked(w: World) -> tuple[int, Any, str]:
    data = w.cli("channels", "check", "--format", "json", ok=False)
    text = w.cli("channels", "check", ok=False).stdout
    return data.returncode, json.loads(data.stdout), text


def by_name(data: Any) -> dict[str, Any]:
    return {c["channel"]: c for c in data["channels"]}


def test_without_a_public_url_it_says_jivo_cannot_reach_a_local_address(world: World) -> None:
    with_public_url(world, None)
    code, data, text = checked(world)
    assert (code, data["public_url_set"]) == (1, False)
    assert "server.public_url is not set" in text


def test_the_public_url_reaching_this_daemon_is_confirmed(world: World) -> None:
    with_public_url(world, world.url)
    _, data, text = checked(world)
    reach = by_name(data)["shop"]["reaches_this_daemon"]
    assert (reach["ok"], reach["text"]) == (True, f"{world.url} answers this daemon")
    assert "✗ not https" in text


def test_a_public_url_that_answers_nothing_is_named(world: World) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    with_public_url(world, nowhere)
    _, data, _ = checked(world)
    reach = by_name(data)["shop"]["reaches_this_daemon"]
    assert (reach["ok"], reach["text"].startswith(f"no answer from {nowhere}/healthz")) == (
        False,
        True,
    )


def test_a_channel_that_never_delivered_gets_jivos_steps(world: World) -> None:
    with_public_url(world, world.url)
    _, data, text = checked(world)
    blog, shop = by_name(data)["blog"], by_name(data)["shop"]
    assert (blog["last_event_at"], shop["steps"]) == (None, [])
    assert JIVO_PATH in blog["steps"][0]
    assert "«Ой-ёй, подключение не удалось»" in text
    assert "Albato" in blog["steps"][2]


def test_the_webhook_url_is_the_public_one_with_the_token_masked(world: World) -> None:
    public = f"https://localhost:{free_port()}"  # the check probes it: loopback only
    with_public_url(world, public)
    _, data, _ = checked(world)
    assert by_name(data)["shop"]["webhook_url"] == f"{public}/jivo/********"


def test_jivos_steps_in_russian_in_the_help_desk_s_words(world: World) -> None:
    with_public_url(world, world.url)
    text = world.cli("channels", "check", "--lang", "ru", ok=False).stdout
    assert f"В Jivo откройте {JIVO_PATH}" in text
    assert "тогда Jivo пишет «Ой-ёй, подключение не удалось»" in " ".join(text.split())
    assert "последняя доставка от Jivo: никогда" in text
