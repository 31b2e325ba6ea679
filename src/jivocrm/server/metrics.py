"""Prometheus metrics of one daemon, in its own registry (no module globals: one app, one set).

Counters move as things happen (events, finished runs, steps, CRM calls); the gauges of the
queue are read from the store when ``/metrics`` is scraped, so they hold across restarts and, on
PostgreSQL, across instances.

Every label value comes from a known set: the catalogue's event names (else ``other``), a few
content types (else ``other``), and names from the project (bundles, steps, connections). A
request can never add a label of its own, so the registry stays the same size whatever arrives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from jivocrm.connectors.base import Connector
from jivocrm.connectors.http import Transport
from jivocrm.core.records import StepRecord
from jivocrm.engine import catalogue
from jivocrm.engine.model import Bundle
from jivocrm.store.base import Store

LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CONTENT_TYPES = frozenset(
    {
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/octet-stream",
    }
)
NO_EVENT = "-"  # a delivery refused before it was read as an event
OTHER = "other"


LABEL_CACHE = 256


def event_label(name: str | None) -> str:
    """A catalogue event name as it is; any other name is ``other``."""
    if name is None:
        return NO_EVENT
    return name if name in catalogue.EVENTS else OTHER


def content_type_label(header: str | None) -> str:
    """The media type of a Content-Type header if it is a common one, else ``other``."""
    if header is None:
        return "none"
    kind = header.split(";", 1)[0].strip().lower()
    return kind if kind in CONTENT_TYPES else OTHER


class Metrics:
    def __init__(self) -> None:
        self._events: dict[tuple[str, str], Any] = {}
        self._replies: dict[str, Any] = {}
        self._types: dict[str | None, Any] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "jivocrm_events",
            "Webhook deliveries by event type and outcome",
            ["event", "outcome"],
            registry=r,
        )
        self.runs_finished = Counter(
            "jivocrm_runs_finished",
            "Run attempts ended, by bundle and status",
            ["bundle", "status"],
            registry=r,
        )
        self.runs = Gauge(
            "jivocrm_runs", "Unfinished runs by bundle and status", ["bundle", "status"], registry=r
        )
        self.step_seconds = Histogram(
            "jivocrm_step_duration_seconds",
            "Step duration",
            ["bundle", "step", "status"],
            buckets=LATENCY,
            registry=r,
        )
        self.crm_seconds = Histogram(
            "jivocrm_crm_request_duration_seconds",
            "CRM request latency",
            ["connection", "status"],
            buckets=LATENCY,
            registry=r,
        )
        self.reply_seconds = Histogram(
            "jivocrm_reply_duration_seconds",
            "Webhook handling time until the answer",
            ["event"],
            buckets=LATENCY,
            registry=r,
        )
        self.queue_depth = Gauge(
            "jivocrm_queue_depth", "Queued runs whose time has come", registry=r
        )
        self.oldest_age = Gauge(
            "jivocrm_oldest_waiting_run_age_seconds", "Age of the oldest queued run", registry=r
        )
        self.rate_limit_wait = Gauge(
            "jivocrm_rate_limit_wait_seconds",
            "Seconds spent waiting for a connection's rate limit since start",
            ["connection"],
            registry=r,
        )
        self.alerts = Counter(
            "jivocrm_alerts",
            "Alert messages to the notify channels, by channel and result",
            ["channel", "result"],
            registry=r,
        )
        self.content_types = Counter(
            "jivocrm_webhook_content_types",
            "Webhook deliveries by the media type of their Content-Type header",
            ["content_type"],
            registry=r,
        )
        self.lane_hold = Gauge(
            "jivocrm_lane_hold_seconds",
            "How long the unfinished run that began longest ago has held its lane",
            registry=r,
        )
        self.lane_hold_limit = Gauge(
            "jivocrm_lane_hold_limit_seconds",
            "retry.max_lane_hold: a run still failing after holding its lane this long fails",
            registry=r,
        )

    # The labelled series intake touches on every webhook, each looked up once (the labels are
    # bounded: catalogue events, outcomes, common media types).
    def event(self, name: str | None, outcome: str) -> None:
        key = (event_label(name), outcome)
        series = self._events.get(key)
        if series is None:
            series = self._events[key] = self.events.labels(*key)
        series.inc()

    def replied(self, name: str, seconds: float) -> None:
        label = event_label(name)
        series = self._replies.get(label)
        if series is None:
            series = self._replies[label] = self.reply_seconds.labels(label)
        series.observe(seconds)

    def content_type(self, header: str | None) -> None:
        series = self._types.get(header)
        if series is None:
            series = self.content_types.labels(content_type_label(header))
            if len(self._types) < LABEL_CACHE:  # headers are the sender's text: bounded
                self._types[header] = series
        series.inc()

    def step(self, bundle: Bundle, record: StepRecord) -> None:
        took = max(0.0, record.finished_at - record.started_at)
        self.step_seconds.labels(bundle.name, record.step_id, record.status).observe(took)
        step = bundle.step(record.step_id)
        connection = (step.connection if step else None) or "-"
        for call in record.calls:
            status = str(call.get("status") or "error")
            self.crm_seconds.labels(connection, status).observe(call["duration_ms"] / 1000)

    async def render(self, store: Store, connectors: Mapping[str, Connector]) -> bytes:
        now = time.time()
        stats = await store.stats(now=now)
        self.runs.clear()
        for (bundle, status), count in stats.runs.items():
            self.runs.labels(bundle, status).set(count)
        self.queue_depth.set(stats.queue_depth)
        self.oldest_age.set(now - stats.oldest_waiting if stats.oldest_waiting else 0)
        self.lane_hold.set(max(0.0, now - stats.oldest_started) if stats.oldest_started else 0)
        for name, connector in connectors.items():
            waited = sum(t.rate_limit_wait for t in transports(connector))
            self.rate_limit_wait.labels(name).set(waited)
        return generate_latest(self.registry)


def transports(connector: Connector) -> Iterator[Transport]:
    """The HTTP transports a connector holds (directly or one level down, e.g. behind a REST
    ``rest``): connectors do not expose them, and metrics only read their counters."""
    seen: set[int] = set()
    for value in _attributes(connector):
        candidates = [value, *_attributes(value)] if not isinstance(value, Transport) else [value]
        for item in candidates:
            if isinstance(item, Transport) and id(item) not in seen:
                seen.add(id(item))
                yield item


def _attributes(obj: Any) -> list[Any]:
    try:
        return list(vars(obj).values())
    except TypeError:
        return []


def unavailable(connector: Connector) -> bool:
    """True while the connection's last call found the CRM down (the transport's own flag)."""
    return any(getattr(t, "_unavailable", False) for t in transports(connector))


__all__ = ["Metrics", "content_type_label", "event_label", "transports", "unavailable"]
