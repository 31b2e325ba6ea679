"""`jivocrm connections check` in Russian (LANG=ru_RU.UTF-8) against the emulators' fault modes:
the diagnosis and what to do in the words of the CRMs' Russian help desks, while ``--format json``
keeps the English a script reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from jivocrm.testing.net import free_port, wait_for

PROJECT = """\
version: 1
connections:
  amo:
    type: amocrm
    base_url: {amo}
    auth: {{long_lived_token: "${{AMO_TOKEN}}"}}
  b24:
    type: bitrix24
    webhook_url: "${{B24_WEBHOOK_URL}}"
"""

B24_SEED = """\
webhooks:
  - {user_id: 1, code: emulatorcode1, scopes: [crm, user, task]}
  - {user_id: 1, code: crmonlycode, scopes: [crm]}
"""

RU = {"LANG": "ru_RU.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[dict[str, str]]:
    seed = tmp_path / "b24-seed.yaml"
    seed.write_text(B24_SEED, "utf-8")
    procs, urls = [], {}
    for crm, extra in (("amocrm", []), ("bitrix24", ["--seed", str(seed)])):
        port = free_port()
        command = [sys.executable, "-m", "jivocrm", "emulate", crm, "--port", str(port), *extra]
        procs.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        urls[crm] = f"http://127.0.0.1:{port}"
        wait_for(urls[crm] + "/_emulator/state")
    yield urls
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def fault(url: str, **values: object) -> None:
    request = urllib.request.Request(
        url + "/_emulator/faults",
        data=json.dumps(values).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def check(
    tmp_path: Path, urls: dict[str, str], env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "bundles").mkdir(exist_ok=True)
    (tmp_path / "jivocrm.yaml").write_text(PROJECT.format(amo=urls["amocrm"]), "utf-8")
    return subprocess.run(
        [sys.executable, "-m", "jivocrm", "connections", "check", *args],
        cwd=tmp_path,
        env={**os.environ, "AMO_TOKEN": "emulator-admin-token", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def good_webhook(urls: dict[str, str], code: str = "emulatorcode1") -> dict[str, str]:
    return {"B24_WEBHOOK_URL": f"{urls['bitrix24']}/rest/1/{code}/"}


def test_all_good_reads_in_russian(tmp_path: Path, emulators: dict[str, str]) -> None:
    result = check(tmp_path, emulators, {**RU, **good_webhook(emulators)}, "b24")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   b24: доступность: портал ответил" in result.stdout
    assert "ok   b24: права: права (scope) crm, user, task выданы" in result.stdout


def test_a_webhook_url_without_https(tmp_path: Path, emulators: dict[str, str]) -> None:
    env = {**RU, "B24_WEBHOOK_URL": "http://myaccount.bitrix24.ru/rest/1/secretcode/"}
    result = check(tmp_path, emulators, env, "b24")
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL b24"))
    assert line.startswith("FAIL b24: настройка: подключение b24: webhook_url: ")
    assert "неправильный URL-адрес — нужен https" in line
    assert "https://myaccount.bitrix24.ru/rest/1/<code>/" in line
    assert "secretcode" not in result.stdout + result.stderr


def test_application_not_installed(tmp_path: Path, emulators: dict[str, str]) -> None:
    fault(emulators["bitrix24"], auth_failure="ERROR_OAUTH")
    result = check(tmp_path, emulators, {**RU, **good_webhook(emulators)}, "b24")
    assert result.returncode == 1
    assert "ok   b24: доступность: портал ответил" in result.stdout
    assert (
        "FAIL b24: авторизация: Битрикс24 ERROR_OAUTH: приложение не установлено: установите"
        " приложение в Битрикс24; если оно установлено, удалите его и установите заново"
    ) in result.stdout


def test_expired_token(tmp_path: Path, emulators: dict[str, str]) -> None:
    fault(emulators["amocrm"], auth_failure=True)
    result = check(tmp_path, emulators, RU, "amo")
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL amo"))
    assert line.startswith("FAIL amo: авторизация: amoCRM: срок действия токена истёк")
    assert "долгосрочный токен" in line
    assert "emulator-admin-token" not in result.stdout + result.stderr


def test_missing_scope(tmp_path: Path, emulators: dict[str, str]) -> None:
    result = check(tmp_path, emulators, {**RU, **good_webhook(emulators, "crmonlycode")}, "b24")
    assert result.returncode == 1
    assert (
        "FAIL b24: права: не хватает прав (scope) user, task: добавьте их в разделе"
        " «Битрикс24 → Разработчикам → Другое → Входящий вебхук»"
    ) in result.stdout


def test_json_stays_english_in_every_language(tmp_path: Path, emulators: dict[str, str]) -> None:
    fault(emulators["bitrix24"], auth_failure="ERROR_OAUTH")
    env = good_webhook(emulators)
    english = check(
        tmp_path, emulators, {**env, "LANG": "C.UTF-8", "LC_ALL": ""}, "--format", "json"
    )
    russian = check(tmp_path, emulators, {**env, **RU}, "--format", "json")
    assert english.returncode == russian.returncode == 1
    assert russian.stdout == english.stdout
    rows = json.loads(russian.stdout)
    oauth = next(r for r in rows if r["connection"] == "b24" and not r["ok"])
    assert oauth["check"] == "authenticated"
    assert oauth["detail"].startswith("Bitrix24 ERROR_OAUTH: application not installed")


def test_a_variable_not_set(tmp_path: Path, emulators: dict[str, str]) -> None:
    assert "B24_WEBHOOK_URL" not in os.environ
    result = check(tmp_path, emulators, RU, "b24")
    assert result.returncode == 1
    assert (
        "FAIL b24: настройка: переменная окружения B24_WEBHOOK_URL не задана; экспортируйте её"
        " или впишите в .env (см. .env.example)"
    ) in result.stdout


def russian_form(count: int) -> int:
    """Which Russian form a count takes: 1 (одна воронка), 2 (две воронки) or 5 (пять воронок)."""
    if count % 10 == 1 and count % 100 != 11:
        return 1
    return 2 if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14 else 5


FORMS = {
    **dict.fromkeys(("воронка", "этап", "пользователь", "поле"), 1),
    **dict.fromkeys(("воронки", "этапа", "пользователя", "поля"), 2),
    **dict.fromkeys(("воронок", "этапов", "пользователей", "полей"), 5),
}


def test_refresh_counts_in_russian_plural_forms(tmp_path: Path, emulators: dict[str, str]) -> None:
    (tmp_path / "bundles").mkdir()
    (tmp_path / "jivocrm.yaml").write_text(PROJECT.format(amo=emulators["amocrm"]), "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "jivocrm", "connections", "refresh", "b24"],
        cwd=tmp_path,
        env={**os.environ, **RU, **good_webhook(emulators)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("ok   b24: "))
    said = [part.split(" ", 1) for part in line.removeprefix("ok   b24: ").split(", ")]
    assert len(said) == 4, line
    assert all(FORMS[noun] == russian_form(int(count)) for count, noun in said), line
    assert result.stdout.splitlines()[-1].startswith("записан ")
