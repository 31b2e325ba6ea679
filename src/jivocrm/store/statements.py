"""The queue and journal writes that are one named statement each, shared by both backends.

Each backend supplies ``_update`` (run a named statement of its ``queries.sql``, return the rows
it changed) and ``_ids`` (how a list of values travels as one parameter: a JSON array unpacked
with ``json_each`` in SQLite, a native array with ``= ANY`` in PostgreSQL).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, Literal

from jivocrm.core import storable
from jivocrm.core.records import StepRecord
from jivocrm.store.base import (
    BundleVersion,
    Event,
    Refusal,
    RefusalCount,
    Rejection,
    Run,
    StepRow,
)


def to_json(value: Any) -> str:
    """JSON for a column: whatever the record holds (a CRM's answer with half an emoji, an
    unexpected type), the store accepts it."""
    return storable.dumps(value)


_RECORD_FIELDS = tuple(f.name for f in fields(StepRecord))


def record_fields(record: StepRecord) -> dict[str, Any]:
    """A step record's fields as the journal stores them. No copy: the record's values are
    JSON-ready already (the runner made them so), and they are encoded at once."""
    return {name: getattr(record, name) for name in _RECORD_FIELDS}


class StatementWrites(ABC):
    @abstractmethod
    async def _update(self, name: str, params: dict[str, Any]) -> int: ...

    @abstractmethod
    async def _updates(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
        """Run named statements in ONE transaction; the rows each changed."""

    @staticmethod
    @abstractmethod
    def _ids(values: Sequence[Any]) -> Any: ...

    async def heartbeat(self, owner: str, run_ids: Sequence[int], *, until: float) -> int:
        if not run_ids:
            return 0
        params = {"owner": owner, "ids": self._ids(run_ids), "until": until}
        return await self._update("heartbeat", params)

    async def requeue_expired(self, *, now: float) -> int:
        return await self._update("requeue_expired", {"now": now})

    async def release(self, owner: str, run_ids: Sequence[int] | None = None) -> int:
        if run_ids is None:
            return await self._update("release_owner", {"owner": owner})
        return await self._update("release_ids", {"owner": owner, "ids": self._ids(run_ids)})

    async def finish_run(
        self,
        run_id: int,
        owner: str,
        *,
        status: Literal["succeeded", "failed"],
        ran_hash: str | None,
        error: str | None = None,
        reply: dict[str, Any] | None = None,
        steps: Sequence[StepRecord] = (),
        attempt: int = 1,
    ) -> bool:
        params = {
            "id": run_id,
            "owner": owner,
            "status": status,
            "ran_hash": ran_hash,
            "error": storable.text(error) if error is not None else None,
            "reply": to_json(reply) if reply is not None else None,
        }
        if not steps:
            return await self._update("finish_run", params) == 1
        items = [("step_finished", _finished(run_id, attempt, r)) for r in steps]
        changed = await self._updates([*items, ("finish_run", params)])
        return changed[-1] == 1

    async def retry_run(
        self, run_id: int, owner: str, *, retry_at: float, ran_hash: str | None, error: str
    ) -> bool:
        params = {
            "id": run_id,
            "owner": owner,
            "retry_at": retry_at,
            "ran_hash": ran_hash,
            "error": storable.text(error),
        }
        return await self._update("retry_run", params) == 1

    async def hold_run(self, run_id: int, owner: str) -> bool:
        return await self._update("hold_run", {"id": run_id, "owner": owner}) == 1

    async def set_paused(self, bundles: Sequence[str], *, paused: bool) -> int:
        if not bundles:
            return 0
        name = "pause_bundles" if paused else "resume_bundles"
        return await self._update(name, {"bundles": self._ids(bundles)})

    async def step_started(
        self, run_id: int, step_id: str, attempt: int, input: dict[str, Any]
    ) -> None:
        record = StepRecord(step_id, "ok", input=input, attempt=attempt, started_at=time.time())
        params = {
            "run_id": run_id,
            "step_id": step_id,
            "attempt": attempt,
            "record": to_json(record_fields(record)),
        }
        await self._update("step_started", params)

    async def step_finished(self, run_id: int, attempt: int, record: StepRecord) -> None:
        await self._update("step_finished", _finished(run_id, attempt, record))

    async def steps_finished(
        self, run_id: int, attempt: int, records: Sequence[StepRecord]
    ) -> None:
        if records:
            await self._updates([("step_finished", _finished(run_id, attempt, r)) for r in records])


def _finished(run_id: int, attempt: int, record: StepRecord) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "step_id": record.step_id,
        "attempt": attempt,
        "status": record.status,
        "record": to_json(record_fields(record)),
    }


# ---- rows back into records (sqlite3.Row and psycopg's dict rows both index by column) --------


def _optional(row: Any, key: str) -> Any:
    # Columns that only the journal's listing queries join in.
    # `in` on a sqlite3.Row looks at the values, not the column names: ask keys().
    return row[key] if key in row.keys() else None  # noqa: SIM118


def run_from_row(row: Any) -> Run:
    return Run(
        id=row["id"],
        event_id=row["event_id"],
        bundle=row["bundle"],
        lane=row["lane"],
        status=row["status"],
        attempt=row["attempt"],
        retry_at=row["retry_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version_hash=row["version_hash"],
        ran_hash=row["ran_hash"],
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        error=row["error"],
        reply=json.loads(row["reply"]) if row["reply"] else None,
        replay_of=row["replay_of"],
        started_at=row["started_at"],
        pinned=bool(row["pinned"]),
        event_name=_optional(row, "event_name"),
        channel=_optional(row, "channel"),
        chat_id=_optional(row, "chat_id"),
    )


def event_from_row(row: Any) -> Event:
    return Event(
        id=row["id"],
        channel=row["channel"],
        name=row["name"],
        status=row["status"],
        received_at=row["received_at"],
        chat_id=row["chat_id"],
        widget_id=row["widget_id"],
        dedup_key=row["dedup_key"],
        body=bytes(row["body"]),
    )


def step_from_row(row: Any) -> StepRow:
    data = json.loads(row["record"])
    return StepRow(row["run_id"], row["step_id"], row["attempt"], row["status"], StepRecord(**data))


def refusal_from_row(row: Any) -> Rejection:
    return Rejection(
        id=row["id"],
        channel=row["channel"],
        reason=row["reason"],
        received_at=row["received_at"],
        body=bytes(row["body"]),
        status=row["status"],
        remote=row["remote"],
        content_type=row["content_type"],
    )


def count_from_row(row: Any) -> RefusalCount:
    return RefusalCount(
        channel=row["channel"],
        status=row["status"],
        count=row["requests"],
        first_at=row["first_at"],
        last_at=row["last_at"],
        remote=row["remote"],
    )


def refusal_params(refusal: Refusal) -> dict[str, Any]:
    return {
        "channel": refusal.channel,
        "reason": refusal.reason,
        "received_at": refusal.received_at,
        "body": refusal.excerpt,
        "status": refusal.status,
        "remote": refusal.remote,
        "content_type": refusal.content_type,
    }


def version_params(version: BundleVersion, now: float) -> dict[str, Any]:
    return {
        "hash": version.hash,
        "bundle": version.bundle,
        "file": version.file,
        "source": version.source,
        "now": now,
    }


def version_from_row(row: Any) -> BundleVersion:
    return BundleVersion(row["hash"], row["bundle"], row["file"], row["source"])
