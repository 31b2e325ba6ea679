"""``jivocrm notify test`` against the fake alert servers: each channel says whether its test
message arrived, and a refused one says what to fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jivocrm.testing.alert_sinks import AlertSinks

BOT = "555:notify-test-token"


def project(root: Path, sinks: AlertSinks) -> Path:
    (root / "bundles").mkdir(parents=True)
    (root / "jivocrm.yaml").write_text(
        "version: 1\nbundles: bundles/\nnotify:\n"
        "  webhook_url: ${ALERT_URL}\n"
        f"  email: {{host: 127.0.0.1, port: {sinks.smtp_port}, security: none,"
        " from: jivocrm@shop.example, to: ops@shop.example}\n"
        f"  telegram: {{bot_token: '${{TG}}', chat_id: '-42', api_url: '{sinks.telegram_url}'}}\n",
        "utf-8",
    )
    return root


def notify_test(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jivocrm", "notify", "test", f"--project={root}", "--format=json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_channel_gets_the_test_message(tmp_path: Path) -> None:
    with AlertSinks(bot_token=BOT) as sinks:
        done = notify_test(project(tmp_path, sinks), {"ALERT_URL": sinks.webhook_url, "TG": BOT})
        got = (len(sinks.webhook), len(sinks.mail), len(sinks.telegram))
    assert (done.returncode, json.loads(done.stdout), got) == (
        0,
        {n: {"sent": True, "error": None} for n in ("webhook", "email", "telegram")},
        (1, 1, 1),
    )


def test_a_wrong_bot_token_says_where_to_get_the_right_one(tmp_path: Path) -> None:
    with AlertSinks(bot_token=BOT) as sinks:
        done = notify_test(project(tmp_path, sinks), {"ALERT_URL": sinks.webhook_url, "TG": "1:x"})
    telegram = json.loads(done.stdout)["telegram"]
    assert (done.returncode, telegram["sent"]) == (1, False)
    assert "check notify.telegram.bot_token (from @BotFather)" in telegram["error"]


def test_people_read_the_test_message_in_russian_and_the_webhook_json_stays_english(
    tmp_path: Path,
) -> None:
    ru = {"LANG": "ru_RU.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
    with AlertSinks(bot_token=BOT) as sinks:
        env = {"ALERT_URL": sinks.webhook_url, "TG": BOT, **ru}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "jivocrm",
                "notify",
                "test",
                f"--project={project(tmp_path, sinks)}",
            ],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        telegram, mail, webhook = sinks.telegram[0], sinks.mail[0], sinks.webhook[0]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ telegram: отправлено" in done.stdout.splitlines()
    assert telegram["text"].startswith("jivocrm: тестовое оповещение\n\nТестовое сообщение от")
    assert mail["Subject"] == "jivocrm: тестовое оповещение"
    assert "оповещения доходят до этого канала" in mail.get_content()
    assert (webhook["alert"], webhook["title"]) == ("test", "jivocrm: test alert")
    assert webhook["text"].endswith(": alerts reach this channel.")
