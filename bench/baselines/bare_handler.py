"""The intake baseline: a minimal aiohttp server that parses the webhook's JSON and answers
``{"result": "ok"}`` without storing anything. Same route shape, same process model (one process,
one event loop) as ``jivocrm serve``; what it lacks is exactly the durable intake.

    python bench/baselines/bare_handler.py --port 8081
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

OK = json.dumps({"result": "ok"})


async def webhook(request: web.Request) -> web.Response:
    event = json.loads(await request.read())
    if not isinstance(event, dict) or "event_name" not in event:
        return web.json_response({"result": "error"}, status=400)
    return web.Response(text=OK, content_type="application/json")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/jivo/{token}", webhook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="minimal aiohttp webhook handler (baseline)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
