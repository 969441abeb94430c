"""Prometheus metrics of one service app: `/metrics`, one registry per app.

Two kinds of series. What happens in this process is counted as it happens, in the app's own
registry (never the process-wide default, since one process may hold several apps): HTTP requests
per route template (never the raw path, which holds ids), method and status class, their latency,
and each projector batch's size and apply time (`batch_progress.py`). Everything else is read when
Prometheus scrapes (`ScrapedSeries`): the pools' sizes, each worker's state, its lag probe (the one
readiness reports: a consumer's pending messages, a relay's outbox depth) and its own counts (dead
letters, published and applied events), and the probes a service adds (`Probe`: its outbox, its
log, its notifications, queried on the worker pool). So the workers' hot paths carry no metrics
code, and a series read from PostgreSQL or JetStream is the same whichever instance answers:
aggregate those with `max`, the per-process counters with `sum`.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import asyncpg
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from shared.platform.asgi_status import ResponseStatus
from shared.platform.outbox import RelayedLog
from shared.platform.supervisor import CountProbe, NamedWorker, Supervisor

logger = logging.getLogger(__name__)


CONTENT_TYPE = CONTENT_TYPE_LATEST
# One probe's queries answer within this long, or the scrape goes on without its series.
PROBE_TIMEOUT_SECONDS = 2.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
APPLY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A route Litestar did not match has no template; its raw path must not become a label.
UNMATCHED_ROUTE = "unmatched"

Probe = Callable[[asyncpg.Pool], Awaitable[list[Metric]]]

# The counts a worker may report and the counter each becomes (per worker, since start).
WORKER_COUNTS = {
    "dead_letters": (
        "mastery_dead_letters",
        "Messages this process parked on a dead-letter subject",
    ),
    "published": ("mastery_relay_published_events", "Outbox rows this process's relay published"),
    "applied": ("mastery_consumer_applied_events", "Events this process's consumer handled"),
}
# The lag probes' measures and the gauge each becomes.
WORKER_LAGS = {
    "consumer_pending": (
        "mastery_consumer_lag_messages",
        "Messages of the consumer's subjects not yet applied and acked: the stream's sequence "
        "minus what is applied (JetStream num_pending + num_ack_pending)",
    ),
}


class ServiceMetrics:
    """The series of one service app, in a registry of its own."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=False)
        labels = ["service", "method", "route"]
        self.requests = Counter(
            "mastery_http_requests",
            "HTTP requests answered, by route template and status class",
            [*labels, "status_class"],
            registry=self.registry,
        )
        self.errors = Counter(
            "mastery_http_request_errors",
            "HTTP requests answered with a 4xx or 5xx status, by route template and status class",
            [*labels, "status_class"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mastery_http_request_duration_seconds",
            "Time from a request's arrival to its response's end, by route template",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "mastery_batch_size_events",
            "Events in each batch a consumer applied",
            ["worker"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "mastery_batch_apply_seconds",
            "Time a consumer took to apply a batch and commit it",
            ["worker"],
            buckets=APPLY_BUCKETS,
            registry=self.registry,
        )
        self.scraped = ScrapedSeries()
        self.registry.register(self.scraped)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        status_class = f"{status // 100}xx"
        self.requests.labels(self.service, method, route, status_class).inc()
        if status >= 400:
            self.errors.labels(self.service, method, route, status_class).inc()
        self.latency.labels(self.service, method, route).observe(seconds)

    async def exposition(
        self, supervisor: Supervisor, pools: Mapping[str, asyncpg.Pool], probes: Sequence[Probe]
    ) -> bytes:
        """The text format of every series, the scraped ones read now."""
        worker_pool = pools["workers"]
        found = await asyncio.gather(
            worker_series(supervisor),
            *(_probed(probe, worker_pool) for probe in probes),
        )
        families = [family for each in found for family in each] + pool_series(pools)
        # No await between setting and rendering: a concurrent scrape cannot mix the two.
        self.scraped.families = families
        return generate_latest(self.registry)


class ScrapedSeries:
    """A collector of what the last scrape read (prometheus-client collects synchronously; the
    reads are asynchronous, so they run first and this hands their result over)."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return list(self.families)


async def _probed(probe: Probe, pool: asyncpg.Pool) -> list[Metric]:
    try:
        return await asyncio.wait_for(probe(pool), PROBE_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        logger.warning("metrics: %s failed: %s: %s", _name(probe), type(error).__name__, error)
        return []


def _name(probe: Probe) -> str:
    return str(getattr(probe, "__qualname__", type(probe).__name__))


def pool_series(pools: Mapping[str, asyncpg.Pool]) -> list[Metric]:
    """Each PostgreSQL pool's open, idle and maximum connections."""
    open_ = GaugeMetricFamily(
        "mastery_db_pool_connections", "Connections the pool holds open", labels=["pool"]
    )
    idle = GaugeMetricFamily(
        "mastery_db_pool_idle_connections", "Open connections no one borrows", labels=["pool"]
    )
    most = GaugeMetricFamily(
        "mastery_db_pool_max_connections", "Connections the pool may open", labels=["pool"]
    )
    for name, pool in pools.items():
        open_.add_metric([name], pool.get_size())
        idle.add_metric([name], pool.get_idle_size())
        most.add_metric([name], pool.get_max_size())
    return [open_, idle, most]


async def worker_series(supervisor: Supervisor) -> list[Metric]:
    """Each worker's state and restarts, its lag as readiness reports it, and its counts."""
    report = await supervisor.report()
    up = GaugeMetricFamily("mastery_worker_up", "1 while the worker runs", labels=["worker"])
    restarts = CounterMetricFamily(
        "mastery_worker_restarts", "Times the worker was started again", labels=["worker"]
    )
    lags = {
        key: GaugeMetricFamily(name, text, labels=["worker"])
        for key, (name, text) in WORKER_LAGS.items()
    }
    for name, status in report.items():
        up.add_metric([name], 1 if status.alive else 0)
        restarts.add_metric([name], status.restarts)
        for key, value in (status.lag or {}).items():
            if key in lags:
                lags[key].add_metric([name], value)
    return [up, restarts, *lags.values(), *count_series(supervisor.workers)]


def count_series(workers: Sequence[NamedWorker]) -> list[Metric]:
    counters = {
        key: CounterMetricFamily(name, text, labels=["worker"])
        for key, (name, text) in WORKER_COUNTS.items()
    }
    for worker in workers:
        if worker.counts is None:
            continue
        for key, value in worker.counts().items():
            counters[key].add_metric([worker.name], value)
    return list(counters.values())


class ConsumerCounts(Protocol):
    processed: int
    deadlettered: int

    @property
    def delivery_limit(self) -> Any: ...


class RelayCounts(Protocol):
    published: int
    parked: int


def consumer_counts(consumer: ConsumerCounts) -> CountProbe:
    """A consumer's events applied, and messages parked: by itself or on JetStream's advisory."""
    return lambda: {
        "applied": consumer.processed,
        "dead_letters": consumer.deadlettered + int(consumer.delivery_limit.parked),
    }


def relay_counts(relay: RelayCounts) -> CountProbe:
    """A relay's rows published, and rows parked because the bus refused them."""
    return lambda: {"published": relay.published, "dead_letters": relay.parked}


def outbox_probe(log: RelayedLog) -> Probe:
    """Rows of a relayed log waiting for its relay (after the relay's position, in its order),
    and how long the oldest of them has waited."""
    waiting = (
        f"FROM {log.table} WHERE (tx_id, {log.position}) > "  # noqa: S608 - names from code
        f"((SELECT tx_id FROM {log.relayed}), (SELECT position FROM {log.relayed}))"
    )

    async def outbox(pool: asyncpg.Pool) -> list[Metric]:
        row = await pool.fetchrow(
            "SELECT count(*) AS depth, "  # noqa: S608 - names from code
            f"coalesce(extract(epoch FROM now() - min(recorded_at)), 0) AS age {waiting}"
        )
        assert row is not None
        depth = GaugeMetricFamily(
            "mastery_outbox_depth_rows",
            "Committed log rows not yet published",
            labels=["outbox"],
        )
        depth.add_metric([log.table], row["depth"])
        age = GaugeMetricFamily(
            "mastery_relay_lag_seconds",
            "How long the oldest unpublished log row has waited for the relay (0 when none waits)",
            labels=["outbox"],
        )
        age.add_metric([log.table], max(float(row["age"]), 0.0))
        return [depth, age]

    outbox.__qualname__ = f"outbox_probe({log.table})"
    return outbox


def request_metrics(metrics: ServiceMetrics) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: count each HTTP request and time it, by route template."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            response = ResponseStatus(send)
            try:
                await app(scope, receive, response.send)
            finally:
                route = scope.get("path_template") or UNMATCHED_ROUTE
                metrics.observe_request(
                    scope["method"], route, response.code, time.perf_counter() - started
                )

        return measured

    return middleware
