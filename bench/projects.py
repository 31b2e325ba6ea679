"""Throw-away jivocrm projects for the benches: a project file, the bundles, the environment.

The bundle is the one the issue names: find the operator's CRM user, create the contact with a
duplicate check by phone and e-mail, create the deal linked to it. Connections point at a bench
emulator process; their client-side rate limit is lifted unless a bench asks for the CRM's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

import harness
from crm_emulator import AMO_TOKEN, B24_HOOK
from payloads import WIDGET_ID

CHANNEL_TOKEN = "bench-channel-token-0001"
OPERATOR_NAME = "Ольга Петрова"  # in both emulators' default accounts
UNLIMITED = {"rate": 100000, "burst": 1000}

# Pipeline and stage names from each emulator's default seed.
PLACES = {
    "amocrm": ("Продажи", "Первичный контакт"),
    "bitrix24": ("Чаты с сайта", "Новая заявка из чата"),
}


def e2e_bundle(
    connection: str,
    crm: str,
    *,
    name: str = "chat-finished-to-crm",
    match: tuple[str, ...] = ("phone", "email"),
    deal_check: bool = True,
) -> dict[str, Any]:
    """The bench bundle; ``match`` is the contact's duplicate check, ``deal_check`` whether the
    deal step reuses an open deal of the contact (``skip`` by contact) or always creates."""
    pipeline, stage = PLACES[crm]
    bundle: dict[str, Any] = {
        "version": 1,
        "name": name,
        "trigger": {"event": "chat_finished"},
        "steps": [
            {
                "id": "operator",
                "type": "find_employee",
                "connection": connection,
                "login": "{{ event.operator.email }}",
                "default": OPERATOR_NAME,
            },
            {
                "id": "contact",
                "type": "new_contact",
                "connection": connection,
                "fields": {
                    "name": "{{ event.visitor.name }}",
                    "phone": "{{ event.visitor.phone }}",
                    "email": "{{ event.visitor.email }}",
                    "responsible": "{{ steps.operator.id }}",
                },
                "duplicates": {"mode": "skip", "match": list(match)},
            },
            {
                "id": "deal",
                "type": "new_deal",
                "connection": connection,
                "fields": {
                    "name": "Чат Jivo #{{ event.chat_id }}",
                    "contact": "{{ steps.contact.id }}",
                    "pipeline": pipeline,
                    "stage": stage,
                    "responsible": "{{ steps.operator.id }}",
                },
                "duplicates": {"mode": "skip", "match": ["contact"]},
            },
        ],
    }
    if not deal_check:
        del bundle["steps"][2]["duplicates"]
    return bundle


def channel_bundle(n: int, connection: str, crm: str) -> dict[str, Any]:
    """Bundle ``n`` of a many-bundle project: same steps, its own channel (widget id)."""
    bundle = e2e_bundle(connection, crm, name=f"site-{n:03d}")
    bundle["trigger"]["channels"] = [widget_id(n)]
    return bundle


def widget_id(n: int) -> str:
    return WIDGET_ID if n == 0 else f"site{n:06d}"


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    port: int

    @property
    def webhook_path(self) -> str:
        return f"/jivo/{CHANNEL_TOKEN}"


def write_project(
    *,
    port: int,
    crm_url: str,
    crm: str = "amocrm",
    bundles: list[dict[str, Any]] | None = None,
    store: str = "sqlite:///.jivocrm/jivocrm.db",
    workers: int = 8,
    rate_limited: bool = False,
    timeout: float = 10.0,
    channels: int = 1,
    root: Path | None = None,
) -> Project:
    root = root or harness.scratch("project")
    (root / "bundles").mkdir(parents=True, exist_ok=True)
    connection = "amo" if crm == "amocrm" else "b24"
    conn: dict[str, Any] = {"type": crm, "timeout": timeout}
    env = {"JIVO_TOKEN": CHANNEL_TOKEN}
    if crm == "amocrm":
        conn |= {"base_url": crm_url, "auth": {"long_lived_token": "${AMO_TOKEN}"}}
        env["AMO_TOKEN"] = AMO_TOKEN
    else:
        conn["webhook_url"] = "${B24_WEBHOOK_URL}"
        env["B24_WEBHOOK_URL"] = crm_url.rstrip("/") + B24_HOOK
    if not rate_limited:
        conn["rate_limit"] = UNLIMITED
    project = {
        "version": 1,
        "bundles": "bundles/",
        "store": store,
        # A short shutdown: in-flight runs may be waiting on a deliberately slow CRM.
        "server": {"host": "127.0.0.1", "port": port, "workers": workers, "shutdown_timeout": 2},
        "channels": {
            f"site{n}": {
                "widget_id": widget_id(n),
                "token": "${JIVO_TOKEN}" if n == 0 else f"${{JIVO_TOKEN_{n}}}",
            }
            for n in range(channels)
        },
        "connections": {connection: conn},
    }
    for n in range(1, channels):
        env[f"JIVO_TOKEN_{n}"] = f"bench-channel-token-{n:04d}"
    yaml = YAML()
    yaml.default_flow_style = False
    with (root / "jivocrm.yaml").open("w", encoding="utf-8") as f:
        yaml.dump(project, f)
    for n, bundle in enumerate(bundles or [e2e_bundle(connection, crm)]):
        with (root / "bundles" / f"{n:03d}-{bundle['name']}.yaml").open("w", encoding="utf-8") as f:
            yaml.dump(bundle, f)
    return Project(root, env, port)


def jivocrm_command(*args: str) -> list[str]:
    """``jivocrm …`` from the same environment as the bench (the venv's console script)."""
    import sys

    exe = Path(sys.executable).with_name("jivocrm")
    if exe.exists():
        return [str(exe), *args]
    return [sys.executable, "-m", "jivocrm", *args]


def environ(project: Project) -> dict[str, str]:
    return {**os.environ, **project.env}
