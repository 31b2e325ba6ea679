"""Property-based fuzzing of ``POST /jivo/{token}`` against ``jivocrm serve`` processes.

Whatever arrives — random JSON shapes, Jivo events with fields of the wrong type, huge strings,
deep nesting, invalid UTF-8, any content type — the daemon answers below 500, keeps running and
answering ``/healthz``, and stores no event and no run for a request it refuses (a refusal is
recorded apart, within bounds, never as an event or a run).

The shape fuzzing drives every event of the catalogue with one field (any documented path)
replaced by every JSON type and by odd strings (lone surrogates, NUL, RTL marks, 1 MB): the
answer is 200, 4xx or 503, and a 200 means the event is stored and each of its runs ends
cleanly — succeeded, or failed with a reason on its first attempt, never left retrying.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from soak_kit import WIDGET, EmulatorProcess, write_project

from jivocrm import samples
from jivocrm.engine import catalogue
from jivocrm.testing.daemon import Daemon
from jivocrm.testing.net import free_port

TOKEN = "fuzz-channel-token-0001"
LIMIT = 65536  # the project's server.body_limit
EVENTS = [name for name in samples.names() if not name.endswith(samples.NO_CONTACTS)]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def serving(tmp: Any, body_limit: int = LIMIT) -> Iterator[Daemon]:
    crm = EmulatorProcess(tmp / "emulator.log")
    crm.start()
    root = write_project(tmp / "project", crm.url)
    text = (root / "jivocrm.yaml").read_text("utf-8")
    (root / "jivocrm.yaml").write_text(
        text.replace(f"body_limit: {LIMIT}", f"body_limit: {body_limit}")
    )
    env = {"JIVO_SHOP_TOKEN": TOKEN, "AMO_TOKEN": "emulator-admin-token"}
    server = Daemon(root, free_port(), token=TOKEN, env=env)
    server.start_blocking()
    yield server
    alive = server.healthy()
    code = server.stop_blocking()
    crm.stop()
    assert (alive, code) == (True, 0), server.logs()[-3000:]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    yield from serving(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon whose body limit lets 1 MB values in, so they reach the runs."""
    yield from serving(tmp_path_factory.mktemp("shapes"), body_limit=4 * 2**20)


def counts(daemon: Daemon) -> dict[str, int]:
    [(events, runs)] = daemon.db(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM runs)"
    )
    return {"events": events, "runs": runs}


def send(daemon: Daemon, body: bytes, content_type: str | None, token: str = TOKEN) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
    try:
        headers = {} if content_type is None else {"Content-Type": content_type}
        conn.request("POST", f"/jivo/{token}", body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def exchange(daemon: Daemon, body: bytes, content_type: str | None = "application/json") -> int:
    """Send one request; check the answer is not a 5xx and a refusal stored no event."""
    before = counts(daemon)
    status = send(daemon, body, content_type)
    after = counts(daemon)
    assert status < 500, (status, body[:200])
    assert daemon.proc is not None
    assert daemon.proc.poll() is None, daemon.logs()[-3000:]
    if status != 200:
        assert (after["events"], after["runs"]) == (before["events"], before["runs"]), status
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
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "json",
        "",
    ]
) | st.from_regex(r"[a-z]{1,10}/[a-z0-9.+-]{1,20}", fullmatch=True)


@FUZZ
@given(content_type=content_types | st.none(), name=st.sampled_from(EVENTS))
def test_a_json_body_is_taken_whatever_its_content_type(
    daemon: Daemon, content_type: str | None, name: str
) -> None:
    assert exchange(daemon, samples.text(name).encode(), content_type) == 200


@FUZZ
@given(content_type=content_types | st.none(), body=st.sampled_from([b"a=1&b=2", b"<xml/>", b""]))
def test_what_is_not_json_is_refused_whatever_its_label(
    daemon: Daemon, content_type: str | None, body: bytes
) -> None:
    assert exchange(daemon, body, content_type) == 400


# ---- the shape of every catalogue event ---------------------------------------------------------
ODD_TEXT = ["\ud800", "\udfff tail", "a\x00b", "\u202eRTL\u202c", "\u200f", "x" * 2**20]
VALUES: list[Any] = [
    None, True, False, 0, -1, 3.5, 10**300, 1e308, "", "text",
    [], [None, 1, "x"], {}, {"a": {"b": 1}}, *ODD_TEXT,
]  # fmt: skip
SHAPE = settings(FUZZ, max_examples=120)


def base_event(name: str) -> dict[str, Any]:
    """The event's sample, or (for an event without one) its documented fields, all null."""
    if name in samples.names():
        return samples.load(name)
    event: dict[str, Any] = {"event_name": name, "widget_id": WIDGET}
    for key in catalogue.EVENTS[name]:
        event.setdefault(key.removesuffix("[]"), None)
    return event


def paths(name: str) -> list[str]:
    raw = {p for p in catalogue.fields(name) if p not in catalogue.COMPUTED}
    return sorted(raw - {"event_name"})


def replace(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``event`` with ``path`` (``visitor.name``, ``agents[].email``) set to ``value``."""
    head, _, rest = path.partition(".")
    key = head.removesuffix("[]")
    if not rest:
        return {**event, key: [value] if head.endswith("[]") and value is not None else value}
    inner = event.get(key)
    if head.endswith("[]"):
        items = inner if isinstance(inner, list) and inner else [{}]
        first = items[0] if isinstance(items[0], dict) else {}
        return {**event, key: [replace(first, rest, value), *items[1:]]}
    return {**event, key: replace(inner if isinstance(inner, dict) else {}, rest, value)}


def runs_end_cleanly(
    daemon: Daemon, event_id: int, deadline: float = 60.0
) -> list[tuple[Any, ...]]:
    end = time.monotonic() + deadline
    while True:
        runs = daemon.db(f"SELECT status, attempt, error FROM runs WHERE event_id = {event_id}")
        if all(r[0] in ("succeeded", "failed") for r in runs) or time.monotonic() > end:
            return runs
        time.sleep(0.05)


@st.composite
def shaped(draw: st.DrawFn) -> tuple[str, str, Any]:
    name = draw(st.sampled_from(sorted(catalogue.EVENTS)))
    return name, draw(st.sampled_from(paths(name))), draw(st.sampled_from(VALUES))


@SHAPE
@given(case=shaped())
@example(case=("offline_message", "visitor", "Ира"))  # no chat_id: the lane asks the visitor
@example(case=("chat_finished", "visitor.name", "\ud800"))  # half an emoji
@example(case=("chat_finished", "agents", 5))
@example(case=("client_updated", "tags[].title", "x" * 2**20))
def test_any_field_of_any_event_as_any_type(roomy: Daemon, case: tuple[str, str, Any]) -> None:
    name, path, value = case
    event = replace(base_event(name), path, value)
    # ensure_ascii: a lone surrogate travels as the JSON escape a client would send.
    status = exchange(roomy, json.dumps(event, ensure_ascii=True).encode())
    assert status in (200, 503) or 400 <= status < 500
    if status != 200:
        return
    [(event_id,)] = roomy.db("SELECT max(id) FROM events")
    for state, attempt, error in runs_end_cleanly(roomy, event_id):
        assert (state, attempt) in (("succeeded", 1), ("failed", 1)), (case, state, error)
        assert state == "succeeded" or error, case


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
