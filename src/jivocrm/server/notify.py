"""The daemon's alerts: failed runs and state changes in, grouped messages out to every channel
the project names under ``notify`` (webhook, e-mail, Telegram).

An alert is a courtesy, never a condition: adding one never blocks a worker or intake, a channel
that is down, slow or refuses is logged (``alert_failed``) and counted, and the journal has the
run either way. State changes are reported once each way: a connection "unavailable" once and
"recovered" once (watched every ``WATCH_EVERY`` seconds, so a blip shorter than that is not news),
a channel "refusing" on its first refused delivery and "recovered" on its next accepted event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from jivocrm.core.i18n import Text
from jivocrm.server.alert_senders import AlertNotSent, Sender, senders
from jivocrm.server.alerts import Alert, Grouping, Kind, Message, render
from jivocrm.server.metrics import unavailable
from jivocrm.store.base import Run

if TYPE_CHECKING:
    from jivocrm.server.state import Daemon

log = structlog.get_logger("jivocrm.notify")

WATCH_EVERY = 5.0
FLUSH_ON_STOP = 5.0  # seconds the last message may take when the daemon stops


class Notifier:
    def __init__(
        self,
        daemon: Daemon,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.daemon = daemon
        self.clock = clock
        self.wall = wall
        notify = daemon.project.notify
        self.grouping = Grouping(notify.group_wait, notify.group_interval)
        self.sent = 0
        self.watch_every = WATCH_EVERY
        self._wake = asyncio.Event()
        self._down: dict[tuple[str, str], bool] = {}  # (kind, name) → currently down

    # ---- alerts in (never blocking) ----------------------------------------------------------
    def run_failed(self, run: Run, error: str, *, lane_held: bool = False) -> None:
        """``lane_held``: it failed for keeping its chat's later events waiting too long."""
        at = self.wall()
        alert = Alert("run_failed", run.bundle, error, at, run.id, run.event_id, run.attempt)
        self._add(dataclasses.replace(alert, lane_held=lane_held) if lane_held else alert)

    def channel_refused(self, channel: str, reason: str) -> None:
        self._change("channel", channel, True, reason)

    def channel_delivered(self, channel: str) -> None:
        if self._down.get(("channel", channel)):
            self._change("channel", channel, False, "")

    def connection_state(self, name: str, down: bool, detail: str = "") -> None:
        self._change("connection", name, down, detail)

    def _change(self, what: str, name: str, down: bool, detail: str) -> None:
        if self._down.get((what, name), False) == down:
            return  # once each way
        self._down[(what, name)] = down
        kind: Kind
        if what == "channel":
            kind = "channel_refusing" if down else "channel_recovered"
        else:
            kind = "connection_unavailable" if down else "connection_recovered"
        self._add(Alert(kind, name, detail, self.wall()))

    def _add(self, alert: Alert) -> None:
        if not self._targets():
            return
        self.grouping.add(alert, self.clock())
        self._wake.set()

    def _targets(self) -> bool:
        notify = self.daemon.view.notify_targets
        return bool(notify.get("webhook_url") or notify.get("email") or notify.get("telegram"))

    # ---- messages out ------------------------------------------------------------------------
    async def flush(self, *, force: bool = False) -> bool:
        """Send the pending batch when it is due (or now, with ``force``); True when sent."""
        batch = self.grouping.take(self.clock(), force=force)
        if batch is None:
            return False
        view = self.daemon.view
        message = render(batch, view.public_url)
        timeout = view.project.notify.timeout
        targets = senders(self.daemon.session, view.notify_targets, timeout)
        results = await asyncio.gather(*(self._send(s, message) for s in targets))
        self.sent += 1
        log.info(
            "alert_sent",
            failed_runs=batch.failed,
            changes=len(batch.states),
            channels=sum(results),
            digest=batch.digest,
        )
        return True

    async def _send(self, sender: Sender, message: Message) -> bool:
        try:
            await sender.send(message)
        except AlertNotSent as exc:
            log.warning("alert_failed", channel=sender.name, error=str(exc))
            self.daemon.metrics.alerts.labels(sender.name, "failed").inc()
            return False
        self.daemon.metrics.alerts.labels(sender.name, "sent").inc()
        return True

    def _watch_connections(self) -> None:
        for name, connector in self.daemon.connections.items():
            self.connection_state(name, unavailable(connector), Text("its CRM does not answer"))

    async def run(self) -> None:
        """Until cancelled: watch the connections, send each batch when it is due."""
        next_watch = self.clock()
        while True:
            notify = self.daemon.project.notify  # a reload may change the policy
            self.grouping.wait, self.grouping.interval = notify.group_wait, notify.group_interval
            now = self.clock()
            if now >= next_watch:
                self._watch_connections()
                next_watch = now + self.watch_every
            await self.flush()
            due = self.grouping.due()
            until = min(next_watch, due) if due is not None else next_watch
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, until - self.clock()))

    async def stop(self) -> None:
        """What is pending goes out now, within ``FLUSH_ON_STOP``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(force=True), FLUSH_ON_STOP)


__all__ = ["Notifier"]
