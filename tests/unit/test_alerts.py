"""Alert grouping on a virtual clock: a burst is one message, a storm a few digests, and no
failure goes unreported."""

from __future__ import annotations

from jivocrm.server.alerts import LISTED, Alert, Batch, Grouping, render

UI = "https://crm-bridge.example.ru"


def failure(n: int, at: float = 0.0, bundle: str = "deals", error: str = "amo: 401") -> Alert:
    return Alert("run_failed", bundle, error, 1_700_000_000 + at, run_id=n, event_id=n, attempts=1)


def drive(grouping: Grouping, alerts: list[tuple[float, Alert]], until: float) -> list[Batch]:
    """Feed alerts at their times and take every batch when it falls due, in 0.1 s steps."""
    batches, pending, now = [], sorted(alerts, key=lambda a: a[0]), 0.0
    while now <= until:
        while pending and pending[0][0] <= now:
            grouping.add(pending.pop(0)[1], now)
        batch = grouping.take(now)
        if batch is not None:
            batches.append(batch)
        now = round(now + 0.1, 1)
    return batches


def test_a_burst_is_one_message() -> None:
    batches = drive(Grouping(10, 120), [(t / 10, failure(t, t / 10)) for t in range(5)], 200)
    assert [b.failed for b in batches] == [5]


def test_a_storm_of_500_in_a_minute_is_two_digests_that_count_every_run() -> None:
    storm = [(n * 0.12, failure(n, n * 0.12)) for n in range(500)]
    batches = drive(Grouping(10, 120), storm, 300)
    assert ([b.digest for b in batches], sum(b.failed for b in batches)) == ([True, True], 500)


def test_messages_keep_the_interval_whatever_comes() -> None:
    steady = [(n * 1.0, failure(n, n * 1.0)) for n in range(600)]  # one a second for 10 min
    batches = drive(Grouping(10, 120), steady, 900)
    assert (len(batches), sum(b.failed for b in batches)) == (6, 600)


def test_a_failure_after_a_quiet_spell_goes_out_after_the_wait() -> None:
    grouping = Grouping(10, 120)
    grouping.add(failure(1), 0.0)
    assert (grouping.take(9.9), grouping.take(10.0) is not None) == (None, True)


def test_a_digest_is_bounded_however_many_errors() -> None:
    batch = Batch()
    for n in range(10_000):
        batch.add(failure(n, error=f"error number {n}", bundle=f"b{n}"))
    assert (len(batch.failures), len(batch.by_error), len(batch.by_bundle)) == (LISTED, 21, 21)


def test_a_small_message_names_each_run_with_the_hint_and_the_link() -> None:
    batch = Batch()
    batch.add(failure(17))
    message = render(batch, UI)
    assert message.title == "jivocrm: run 17 of deals failed"
    assert "jivocrm runs show 17; jivocrm runs replay 17 once the cause is fixed" in message.text
    assert f"{UI}/ui/runs/17" in message.text


def test_a_digest_counts_and_says_how_to_replay_them_all() -> None:
    batch = Batch()
    for n in range(40):
        batch.add(failure(n, bundle="deals" if n < 30 else "leads"))
    message = render(batch, UI)
    assert "40 runs failed between" in message.text
    assert "By bundle: deals 30, leads 10" in message.text
    assert "40× amo: 401" in message.text
    assert "jivocrm runs replay --failed --since" in message.text
    assert f"{UI}/ui/runs?status=failed&since=" in message.text


def test_state_changes_ride_in_the_message() -> None:
    batch = Batch()
    batch.add(Alert("connection_unavailable", "amo", "its CRM does not answer", 1_700_000_000))
    batch.add(Alert("connection_recovered", "amo", "", 1_700_000_030))
    message = render(batch, UI)
    assert "connection amo is unavailable: its CRM does not answer" in message.text
    assert "connection amo recovered" in message.text
    assert f"{UI}/ui/runs?status=queued" in message.text
    assert message.data["alert"] == "state_changed"


def test_people_read_the_message_in_russian_while_its_json_stays_english() -> None:
    from jivocrm.core import i18n

    batch = Batch()
    for n in range(22):
        batch.add(failure(n))
    batch.add(Alert("connection_unavailable", "amo", "amo: 503", 1_700_000_000))
    with i18n.language("ru"):
        message = render(batch, UI)
    assert message.title == "jivocrm: 22 runs failed (digest); connection amo is unavailable"
    assert message.shown_title == (
        "jivocrm: 22 запуска завершились ошибкой (сводка); подключение amo недоступно"
    )
    assert "22 запуска завершились ошибкой с " in message.shown_text
    assert "По связкам: deals 22" in message.shown_text
    assert "22 runs failed between" in message.text
    assert message.data["runs"][0]["hint"].startswith("jivocrm runs show 0; jivocrm runs replay")
