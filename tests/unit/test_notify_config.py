"""``validate`` on the alert channels: secrets are ``${ENV}``, and none travels in the clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from jivocrm.engine.project import load_project

BASE = "version: 1\nbundles: bundles/\n"


def problems(tmp_path: Path, notify: str) -> list[str]:
    (tmp_path / "bundles").mkdir(exist_ok=True)
    (tmp_path / "jivocrm.yaml").write_text(BASE + notify, "utf-8")
    _, found = load_project(tmp_path)
    return [f"{p.path}: {p.message}" for p in found if p.severity == "error"]


def test_a_complete_alert_set_up_is_valid(tmp_path: Path) -> None:
    notify = (
        "notify:\n"
        "  email: {host: smtp.yandex.ru, port: 465, security: tls, username: '${SMTP_USER}',"
        " password: '${SMTP_PASSWORD}', from: a@shop.example, to: [ops@shop.example]}\n"
        "  telegram: {bot_token: '${TELEGRAM_BOT_TOKEN}', chat_id: -1001234}\n"
        "  group_wait: 5\n  group_interval: 60\n"
    )
    assert problems(tmp_path, notify) == []


@pytest.mark.parametrize(
    ("notify", "expected"),
    [
        (
            "notify: {telegram: {bot_token: '123:abc', chat_id: 1}}\n",
            "notify.telegram.bot_token: the value is a secret: write it as"
            " ${NOTIFY_TELEGRAM_BOT_TOKEN}",
        ),
        (
            "notify: {telegram: {bot_token: '${T}', chat_id: 1, api_url: 'http://tg.example'}}\n",
            "notify.telegram.api_url: https required: the bot token is in the URL",
        ),
        (
            "notify: {email: {host: smtp.example, security: none, password: '${P}',"
            " from: a@b.c, to: o@b.c}}\n",
            "notify.email.security: a password goes only over starttls or tls: pick one",
        ),
    ],
)
def test_an_alert_secret_in_the_clear_is_refused(
    tmp_path: Path, notify: str, expected: str
) -> None:
    assert any(p.startswith(expected) for p in problems(tmp_path, notify)), problems(
        tmp_path, notify
    )
