"""Property-based fuzzing of ``POST /jivo/{token}`` against one ``jivocrm serve`` process.

Whatever arrives — random JSON shapes, Jivo events with fields of the wrong type, huge strings,
deep nesting, invalid UTF-8, wrong content types — the daemon answers below 500, keeps running
and answering ``/healthz``, and stores nothing for a request it rejects (a 403 for another
widget is recorded as a rejection, never as an event or a run).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jivocrm import samples
from jivocrm.testing.daemon import Daemon
from jivocrm.testing.net import free_port
from jivocrm.testing.soak import EmulatorProcess, write_project

TOKEN = "fuzz-channel-token-0001"
LIMIT = 65536  # the project's server.body_limit
EVENTS = [name for name in samples.names() if not name.endswith(samples.NO_CONTACTS)]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("fuzz")
    crm = EmulatorProcess(tmp / "emulator.log")
    crm.start()
    root = write_project(tmp / "project", crm.url)
    env = {"JIVO_SHOP_TOKEN": TOKEN, "AMO_TOKEN": "emulator-admin-token"}
    server = Daemon(root, free_port(), token=TOKEN, env=env)
    server.start_blocking()
    yield server
    alive = server.healthy()
    code = server.stop_blocking()
    crm.stop()
    assert (alive, code) == (True, 0), server.logs()[-3000:]


def counts(daemon: Daemon) -> dict[str, int]:
    [(events, runs, rejections)] = daemon.db(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM runs),"
        " (SELECT count(*) FROM rejections)"
    )
    return {"events": events, "runs": runs, "rejections": rejections}


def send(daemon: Daemon, body: bytes, content_type: str | None, token: str = TOKEN) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
    try:
        headers = {} if content_type is None else {"Content-Type": content_type}
        conn.request("POST", f"/jivo/{token}", body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def exchange(daemon: Daemon, body: bytes, content_type: str | None = "application/json") -> int:
    """Send one request; check the answer is not a 5xx and a rejection stored nothing."""
    before = counts(daemon)
    status = send(daemon, body, content_type)
    after = counts(daemon)
    assert status < 500, (status, body[:200])
    assert daemon.proc is not None
    assert daemon.proc.poll() is None, daemon.logs()[-3000:]
    if status != 200:
        assert (after["events"], after["runs"]) == (before["events"], before["runs"]), status
    if status != 403:
        assert after["rejections"] == before["rejections"]
    return status


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=40,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A Jivo sample event with some fields replaced by random values or removed."""
    name = draw(st.sampled_from(EVENTS))
    event: dict[str, Any] = samples.load(name)
    for key in draw(st.lists(st.sampled_from(sorted(event)), max_size=4, unique=True)):
        if draw(st.booleans()):
            del event[key]
        else:
            event[key] = draw(json_values)
    if draw(st.booleans()):
        event["event_name"] = draw(st.sampled_from([*EVENTS, "", "chat_finishedx"]) | st.text())
    return event


@FUZZ
@given(value=json_values)
def test_any_json_value(daemon: Daemon, value: Any) -> None:
    exchange(daemon, json.dumps(value).encode())


@FUZZ
@given(event=mutated_events())
def test_jivo_events_with_wrong_types_and_missing_fields(
    daemon: Daemon, event: dict[str, Any]
) -> None:
    exchange(daemon, json.dumps(event, ensure_ascii=False).encode())


@FUZZ
@given(event=mutated_events(), junk=st.binary(min_size=1, max_size=8), at=st.floats(0, 1))
def test_invalid_utf8_inside_an_event(
    daemon: Daemon, event: dict[str, Any], junk: bytes, at: float
) -> None:
    raw = json.dumps(event, ensure_ascii=False).encode()
    cut = int(len(raw) * at)
    body = raw[:cut] + b"\xff" + junk + raw[cut:]  # 0xff never occurs in UTF-8
    assert exchange(daemon, body) == 400


@FUZZ
@given(body=st.binary(max_size=4096))
def test_random_bytes(daemon: Daemon, body: bytes) -> None:
    exchange(daemon, body)


@settings(FUZZ, max_examples=25)
@given(size=st.integers(LIMIT, 4 * LIMIT), name=st.sampled_from(EVENTS))
def test_huge_strings(daemon: Daemon, size: int, name: str) -> None:
    event = samples.load(name)
    event["message"] = "я" * (size // 2)
    assert exchange(daemon, json.dumps(event, ensure_ascii=False).encode()) == 413


@settings(FUZZ, max_examples=40)
@given(depth=st.integers(1, 30_000), kind=st.sampled_from(["list", "dict", "mixed"]))
def test_deep_nesting(daemon: Daemon, depth: int, kind: str) -> None:
    opens = {"list": "[", "dict": '{"a":', "mixed": '[{"a":'}[kind]
    closes = {"list": "]", "dict": "}", "mixed": "}]"}[kind]
    inner = json.dumps(samples.load("chat_finished"))
    body = (opens * depth + inner + closes * depth).encode()
    status = exchange(daemon, body)
    assert status in (400, 413)


content_types = st.sampled_from(
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "json",
        "",
    ]
) | st.from_regex(r"[a-z]{1,10}/[a-z0-9.+-]{1,20}", fullmatch=True)


@FUZZ
@given(content_type=content_types | st.none(), name=st.sampled_from(EVENTS))
def test_wrong_content_types(daemon: Daemon, content_type: str | None, name: str) -> None:
    body = samples.text(name).encode()
    json_like = content_type is not None and (
        content_type == "application/json"
        or (content_type.startswith("application/") and content_type.endswith("+json"))
    )
    status = exchange(daemon, body, content_type)
    assert status == 200 if json_like else status == 415


@settings(FUZZ, max_examples=40)
@given(
    token=st.text(
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"), max_size=60
    )
)
def test_unknown_tokens_are_404(daemon: Daemon, token: str) -> None:
    body = samples.text("chat_finished").encode()
    before = counts(daemon)
    status = send(daemon, body, "application/json", token=token)
    assert status == 200 if token == TOKEN else status in (404, 405)
    if token != TOKEN:
        assert counts(daemon) == before


def test_the_daemon_still_answers_healthz(daemon: Daemon) -> None:
    assert daemon.healthy()
