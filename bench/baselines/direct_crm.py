"""The end-to-end baseline: the straightforward aiohttp program a developer would write instead of
jivocrm, making the same amoCRM calls for a ``chat_finished`` with no store and no journal.

It answers the webhook at once and handles the event in a task (at most ``--workers`` at a
time, like jivocrm's workers): the operator's user from a list fetched once, a contact search by
phone and then by e-mail, and one ``POST /api/v4/leads/complex`` creating the deal with its new
contact (or ``POST /api/v4/leads`` linked to the contact found). An event that fails is lost —
that is what the store and journal of jivocrm exist to prevent.

    python bench/baselines/direct_crm.py --port 8082 --crm-url http://127.0.0.1:8091
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web

CLIENT = web.AppKey("client", "AmoClient")
TOKEN = "emulator-admin-token"
PIPELINE, STAGE = 7700001, 61000011  # Продажи / Первичный контакт in the emulator's seed
SOURCE_FIELD, SOURCE_SITE1 = 264950, 447201  # Источник = Сайт 1


class AmoClient:
    def __init__(self, base: str, workers: int) -> None:
        self.base = base.rstrip("/")
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
        self.slots = asyncio.Semaphore(workers)
        self.users: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.failed = 0

    async def load_users(self) -> None:
        async with self.session.get(f"{self.base}/api/v4/users") as r:
            data = await r.json(content_type=None)
        self.users = {u["email"]: u["id"] for u in data["_embedded"]["users"] if u.get("email")}

    async def find_contact(self, query: str) -> int | None:
        async with self.session.get(f"{self.base}/api/v4/contacts", params={"query": query}) as r:
            if r.status == 204:  # amoCRM's empty search answer has no body
                return None
            r.raise_for_status()
            data = await r.json(content_type=None)
        contacts = data["_embedded"]["contacts"]
        return int(contacts[0]["id"]) if contacts else None

    async def handle(self, event: dict[str, Any]) -> None:
        async with self.slots:
            try:
                await self._handle(event)
            except (aiohttp.ClientError, KeyError, ValueError):
                self.failed += 1

    async def _handle(self, event: dict[str, Any]) -> None:
        visitor = event.get("visitor") or {}
        agents = event.get("agents") or [{}]
        responsible = self.users.get(agents[0].get("email", ""), min(self.users.values()))
        phone = "".join(ch for ch in visitor.get("phone") or "" if ch.isdigit())
        email = (visitor.get("email") or "").strip().lower()
        contact_id = None
        for query in (phone, email):
            if query and contact_id is None:
                contact_id = await self.find_contact(query)
        lead: dict[str, Any] = {
            "name": f"Чат Jivo #{event['chat_id']}",
            "pipeline_id": PIPELINE,
            "status_id": STAGE,
            "responsible_user_id": responsible,
            "custom_fields_values": [
                {"field_id": SOURCE_FIELD, "values": [{"enum_id": SOURCE_SITE1}]}
            ],
        }
        if contact_id is not None:
            lead["_embedded"] = {"contacts": [{"id": contact_id}]}
            path = "/api/v4/leads"
        else:
            values = []
            if visitor.get("phone"):
                values.append({"field_code": "PHONE", "values": [{"value": visitor["phone"]}]})
            if email:
                values.append({"field_code": "EMAIL", "values": [{"value": email}]})
            contact = {
                "name": visitor.get("name") or "Посетитель Jivo",
                "responsible_user_id": responsible,
                "custom_fields_values": values,
            }
            lead["_embedded"] = {"contacts": [contact]}
            path = "/api/v4/leads/complex"
        async with self.session.post(f"{self.base}{path}", json=[lead]) as r:
            r.raise_for_status()
            await r.read()


async def webhook(request: web.Request) -> web.Response:
    event = json.loads(await request.read())
    client = request.app[CLIENT]
    if isinstance(event, dict) and event.get("event_name") == "chat_finished":
        task = asyncio.create_task(client.handle(event))
        client.tasks.add(task)
        task.add_done_callback(client.tasks.discard)
    return web.json_response({"result": "ok"})


def create_app(crm_url: str, workers: int) -> web.Application:
    app = web.Application()

    async def client_ctx(app: web.Application) -> Any:
        client = AmoClient(crm_url, workers)
        await client.load_users()
        app[CLIENT] = client
        yield
        await client.session.close()

    app.cleanup_ctx.append(client_ctx)
    app.router.add_post("/jivo/{token}", webhook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="straightforward Jivo → amoCRM program")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--crm-url", required=True)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    app = create_app(args.crm_url, args.workers)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
