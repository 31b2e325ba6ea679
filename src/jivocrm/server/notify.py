"""Alerts for runs that failed for good: a JSON POST to ``notify.webhook_url``.

The alert is a courtesy, never a condition: a notify endpoint that is down, slow or answers an
error is logged and counted, and the run stays failed in the journal either way.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from jivocrm.store.base import Run

if TYPE_CHECKING:
    from jivocrm.server.state import Daemon, ProjectView

log = structlog.get_logger("jivocrm.notify")


def alert(run: Run, error: str, kind: str = "run_failed") -> dict[str, Any]:
    """The alert's JSON; ``kind`` is ``run_failed``, or ``lane_held`` for a run that failed
    because it kept its chat's later events waiting past ``retry.max_lane_hold``."""
    return {
        "alert": kind,
        "run_id": run.id,
        "event_id": run.event_id,
        "bundle": run.bundle,
        "lane": run.lane,
        "attempts": run.attempt,
        "error": error,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hint": f"jivocrm runs show {run.id}; jivocrm runs replay {run.id} once the cause is fixed",
    }


async def send_alert(
    daemon: Daemon, view: ProjectView, run: Run, error: str, kind: str = "run_failed"
) -> bool:
    url = view.notify_url
    if not url:
        return False
    timeout = aiohttp.ClientTimeout(total=view.project.notify.timeout)
    body = alert(run, error, kind)
    try:
        async with daemon.session.post(url, json=body, timeout=timeout) as resp:
            ok = resp.status < 300
            if not ok:
                log.warning("alert_refused", run_id=run.id, status=resp.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("alert_failed", run_id=run.id, error=str(exc) or type(exc).__name__)
        ok = False
    daemon.metrics.alerts.labels("sent" if ok else "failed").inc()
    return ok


__all__ = ["alert", "send_alert"]
