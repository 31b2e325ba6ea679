"""``jivocrm events list --refused`` and ``events explain --refused ID``: the deliveries that never
became events — refused for their shape, size, type, widget, or a store that could not take them —
and what to change for each."""

from __future__ import annotations

from pathlib import Path

from jivocrm.cli import journal_format as fmt_
from jivocrm.cli.common import OK, echo_json
from jivocrm.core.i18n import _, localized
from jivocrm.journal.redaction import journal_redactor
from jivocrm.journal.refusals import UNKNOWN_ADVICE, refusal_detail, refused_list, shown_reason


def list_refused(project_path: Path, channel: str | None, limit: int, fmt: str) -> int:
    project = fmt_.load(project_path)
    found = fmt_.query(project, lambda store: refused_list(store, channel=channel, limit=limit))
    data = journal_redactor(project).value(found)
    if fmt == "json":
        echo_json(data)
        return OK
    out = fmt_.console()
    if not data["refused"] and not data["unknown_tokens"]:
        out.print(_("No refused deliveries."))
        return OK
    grid = fmt_.table(
        _("refused"), _("received"), _("channel"), _("status"), _("reason"), _("from"), _("body")
    )
    for row in data["refused"]:
        grid.add_row(
            str(row["id"]),
            fmt_.when(row["received_at"]),
            row["channel"],
            str(row["status"]),
            fmt_.short(shown_reason(row["reason"]), 70),
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
        out.print(
            _("{count} refused in all ({shown}); the newest are kept in detail.").format(
                count=data["counted"], shown=shown
            )
        )
    for count in data["unknown_tokens"]:
        out.print(
            _("{count} request(s) with an unknown token from {remote}, last {ago}").format(
                count=count["requests"], remote=count["remote"], ago=fmt_.ago(count["last_at"])
            ),
            markup=False,
        )
    if data["unknown_tokens"]:
        out.print(localized(UNKNOWN_ADVICE), markup=False)
    out.print(_("`jivocrm events explain --refused ID` says what to change."))
    return OK


def explain_refused(project_path: Path, refusal_id: int, fmt: str) -> int:
    project = fmt_.load(project_path)
    found = fmt_.query(project, lambda store: refusal_detail(store, project, refusal_id))
    if fmt == "json":
        echo_json(journal_redactor(project).value(found))
        return OK
    # The reason is kept in English and the advice made in English: read in the reader's language.
    found = {**found, "reason": shown_reason(found["reason"]), "advice": localized(found["advice"])}
    data = journal_redactor(project).value(found)
    out = fmt_.console()
    for line in (
        _(
            "refused delivery {id}: {status} · channel {channel} · received {received} · from"
            " {remote}"
        ).format(
            id=data["id"],
            status=data["status"],
            channel=data["channel"],
            received=fmt_.when(data["received_at"]),
            remote=data["remote"] or "—",
        ),
        _("reason: {reason}").format(reason=data["reason"]),
        _("body (excerpt): {excerpt}").format(excerpt=data["excerpt"] or "—"),
        _("what to change: {advice}").format(advice=data["advice"]),
    ):
        out.print(line, markup=False, soft_wrap=True)
    return OK


__all__ = ["explain_refused", "list_refused"]
