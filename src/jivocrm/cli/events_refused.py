"""``jivocrm events list --refused`` and ``events explain --refused ID``: the deliveries that never
became events — refused for their shape, size, type, widget, or a store that could not take them —
and what to change for each."""

from __future__ import annotations

from pathlib import Path

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import OK, echo_json
from jivocrm.journal.redaction import journal_redactor
from jivocrm.journal.refusals import UNKNOWN_ADVICE, refusal_detail, refused_list


def list_refused(project_path: Path, channel: str | None, limit: int, fmt: str) -> int:
    project = fmt_.load(project_path)
    found = fmt_.query(project, lambda store: refused_list(store, channel=channel, limit=limit))
    data = journal_redactor(project).value(found)
    if fmt == "json":
        echo_json(data)
        return OK
    out = fmt_.console()
    if not data["refused"] and not data["unknown_tokens"]:
        out.print("No refused deliveries.")
        return OK
    grid = fmt_.table("refused", "received", "channel", "status", "reason", "from", "body")
    for row in data["refused"]:
        grid.add_row(
            str(row["id"]),
            fmt_.when(row["received_at"]),
            row["channel"],
            str(row["status"]),
            fmt_.short(row["reason"], 70),
            row["remote"] or "—",
            fmt_.short(row["excerpt"], 40) or "—",
        )
    out.print(grid)
    kept = len(data["refused"])
    if data["counted"] > kept:
        shown = ", ".join(
            f"{name}: " + ", ".join(f"{n}× {status}" for status, n in by.items())
            for name, by in data["by_channel"].items()
        )
        out.print(f"{data['counted']} refused in all ({shown}); the newest are kept in detail.")
    for count in data["unknown_tokens"]:
        out.print(
            f"{count['requests']} request(s) with an unknown token from {count['remote']},"
            f" last {fmt_.ago(count['last_at'])}",
            markup=False,
        )
    if data["unknown_tokens"]:
        out.print(UNKNOWN_ADVICE, markup=False)
    out.print("`jivocrm events explain --refused ID` says what to change.")
    return OK


def explain_refused(project_path: Path, refusal_id: int, fmt: str) -> int:
    project = fmt_.load(project_path)
    found = fmt_.query(project, lambda store: refusal_detail(store, project, refusal_id))
    data = journal_redactor(project).value(found)
    if fmt == "json":
        echo_json(data)
        return OK
    out = fmt_.console()
    for line in (
        f"refused delivery {data['id']}: {data['status']} · channel {data['channel']} · "
        f"received {fmt_.when(data['received_at'])} · from {data['remote'] or '—'}",
        f"reason: {data['reason']}",
        f"body (excerpt): {data['excerpt'] or '—'}",
        f"what to change: {data['advice']}",
    ):
        out.print(line, markup=False, soft_wrap=True)
    return OK


__all__ = ["explain_refused", "list_refused"]
