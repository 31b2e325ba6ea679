"""A CRM emulator in its own process for the benches, so its CPU is never booked to the program
under test. It is the project's own emulator app with the knobs the benches need, plus one
cheap route, ``GET /_emulator/bench/counts`` (kept out of the request log like every
``/_emulator/`` route), because ``/_emulator/state`` serialises every entity and request and
gets slow once thousands exist.

    python bench/crm_emulator.py amocrm --port 8091 [--rate-limit off] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import importlib
from collections import Counter
from typing import Any

from aiohttp import web

from jivocrm.connectors.amocrm.emulator_routes import STATE

# By module path: the connector packages export a lazy ``emulator`` factory under the same name.
amo = importlib.import_module("jivocrm.connectors.amocrm.emulator")
b24 = importlib.import_module("jivocrm.connectors.bitrix24.emulator")

# How to point a connection at each emulator with its default seed's credentials.
AMO_TOKEN = "emulator-admin-token"
B24_HOOK = "/rest/1/emulatorcode1/"


def _amo_counts(app: web.Application, detail: bool) -> dict[str, Any]:
    state = app[STATE]
    out: dict[str, Any] = {
        "contacts": len(state.contacts),
        "deals": len(state.leads),
        "requests": len(state.requests),
    }
    if detail:
        out["by_path"] = Counter(f"{r['method']} {_shape(r['path'])}" for r in state.requests)
    return out


def _b24_counts(app: web.Application, detail: bool) -> dict[str, Any]:
    state = app[b24.EMULATOR].state
    out: dict[str, Any] = {
        "contacts": len(state.entities["contact"]),
        "deals": len(state.entities["deal"]),
        "requests": len(state.requests),
    }
    if detail:
        out["by_path"] = Counter(str(r.get("method")) for r in state.requests)
    return out


def _shape(path: str) -> str:
    """/api/v4/contacts/123 → /api/v4/contacts/{id}: one key per route."""
    return "/".join("{id}" if part.isdigit() else part for part in path.split("/"))


def create_app(crm: str, *, rate_limit: bool, latency: float) -> web.Application:
    if crm == "amocrm":
        app = amo.create_app(
            None, random_seed=1, latency=latency, **({} if rate_limit else {"rate_limit": 0})
        )
        counts = _amo_counts
    else:
        faults: dict[str, Any] = {"latency": latency}
        if not rate_limit:
            faults["rate_limit"] = {"rate": 0, "burst": 1}
        app = b24.create_app(None, faults=faults, random_seed=1)
        counts = _b24_counts

    async def get_counts(request: web.Request) -> web.Response:
        # Polled while a bench waits: the per-route breakdown only when asked for.
        return web.json_response(counts(request.app, "detail" in request.query))

    app.router.add_get("/_emulator/bench/counts", get_counts)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="CRM emulator for the benches")
    parser.add_argument("crm", choices=["amocrm", "bitrix24"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate-limit", choices=["on", "off"], default="off")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    args = parser.parse_args()
    app = create_app(args.crm, rate_limit=args.rate_limit == "on", latency=args.latency)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
