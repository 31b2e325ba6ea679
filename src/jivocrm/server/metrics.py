"""Prometheus metrics of one daemon, in its own registry (no module globals: one app, one set).

Counters move as things happen (events, finished runs, steps, CRM calls); the gauges of the
queue are read from the store when ``/metrics`` is scraped, so they hold across restarts and, on
PostgreSQL, across instances.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from jivocrm.connectors.base import Connector
from jivocrm.connectors.http import Transport
from jivocrm.engine.journal import StepRecord
from jivocrm.engine.model import Bundle
from jivocrm.store.base import Store

LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
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
            "jivocrm_alerts", "Failure alerts sent to notify, by result", ["result"], registry=r
        )

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
        for name, connector in connectors.items():
            waited = sum(t.rate_limit_wait for t in transports(connector))
            self.rate_limit_wait.labels(name).set(waited)
        return generate_latest(self.registry)


def transports(connector: Connector) -> Iterator[Transport]:
    """The HTTP transports a connector holds (directly or one level down, e.g. Bitrix24's
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


__all__ = ["Metrics", "transports", "unavailable"]
