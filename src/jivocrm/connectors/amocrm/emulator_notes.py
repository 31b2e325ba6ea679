"""The amoCRM emulator's notes of one record: ``GET /api/v4/{entity}/{id}/notes``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jivocrm.connectors.amocrm.emulator_routes import paged
from jivocrm.connectors.amocrm.emulator_state import AccountState


def _shown(note: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": note["id"],
        "entity_id": note["entity_id"],
        "created_by": 0,
        "updated_by": 0,
        "created_at": note["created_at"],
        "updated_at": note["created_at"],
        "responsible_user_id": note.get("responsible_user_id", 0),
        "group_id": 0,
        "note_type": note["note_type"],
        "params": note.get("params") or {},
    }


async def list_entity_notes(request: web.Request, state: AccountState) -> web.Response:
    """Paged like every list (``page``, ``limit``); ``filter[note_type][]`` and
    ``order[id]`` (``asc``/``desc``) as amoCRM reads them."""
    entity = request.match_info["entity"]
    entity_id = int(request.match_info["entity_id"])
    types = set(request.query.getall("filter[note_type][]", []))
    notes = [
        n
        for n in state.notes
        if n["entity_type"] == entity
        and int(n["entity_id"]) == entity_id
        and (not types or n["note_type"] in types)
    ]
    descending = request.query.get("order[id]", "asc").lower() == "desc"
    notes.sort(key=lambda n: int(n["id"]), reverse=descending)
    return paged(request, state, [_shown(n) for n in notes], "notes")


__all__ = ["list_entity_notes"]
