"""Composition root of the mastery service: the projector, its outbox relay and the read API."""

import asyncpg
from litestar import Litestar
from litestar.di import Provide
from prometheus_client.metrics_core import Metric

from services.mastery.adapters.calculator import CalculatorController
from services.mastery.adapters.change_log import RELAYED_LOG
from services.mastery.adapters.class_http import ClassReportsController
from services.mastery.adapters.family_report import (
    OneTimeZone,
    ReportRenderer,
    StudentNames,
    TimeZones,
)
from services.mastery.adapters.family_report_http import family_report_router
from services.mastery.adapters.freshness import ReadWait
from services.mastery.adapters.gradebook_http import GradebookController
from services.mastery.adapters.http import MasteryController
from services.mastery.adapters.ownership import PartitionOwnership
from services.mastery.adapters.preview import PreviewController
from services.mastery.adapters.projector import PROJECTOR_NAME, MasteryProjector
from services.mastery.adapters.report_card_http import ReportCardController
from services.mastery.adapters.resync import ResyncController
from services.mastery.adapters.roster_http import ClassesController, RosterController
from services.mastery.adapters.roster_relay import roster_log
from services.mastery.adapters.roster_views import RosterNames
from services.mastery.adapters.watermarks import WatermarkRaiser
from services.mastery.config import MasteryConfig
from services.mastery.core.calculation import FALLBACK_POLICY, CalculationPolicy
from services.mastery.core.partition_owners import tenant_wide_slot
from services.mastery.migrations import MIGRATIONS
from shared.contract.events.gradebook import LatestGradebookEvent, gradebook_envelopes
from shared.platform.batch_progress import BatchProgress
from shared.platform.bus import bus_names
from shared.platform.bus_users import MASTERY_USER, partition_durable
from shared.platform.consumer import BatchConsumer, ConsumerSettings, Handler
from shared.platform.group_commit import GroupCommit
from shared.platform.metrics import (
    ServiceMetrics,
    outbox_probe,
    relay_counts,
)
from shared.platform.outbox import outbox_relay
from shared.platform.service import create_service_app
from shared.platform.supervisor import GiveUp, NamedWorker, terminate_process
from shared.platform.tracing import Tracing, traced_batches

__all__ = ["MIGRATIONS", "build_projector", "build_projectors", "create_app"]

DEFAULT_POLICY = FALLBACK_POLICY
# The first pause before a batch is tried again (seconds, doubling up to its max).
TENANT_WIDE_RETRY_DELAY, PARTITION_RETRY_DELAY = 0.5, 0.05


def build_projector(
    config: MasteryConfig,
    pool: asyncpg.Pool,
    policy: CalculationPolicy = DEFAULT_POLICY,
    metrics: ServiceMetrics | None = None,
    *,
    progress: BatchProgress | None = None,
    tracing: Tracing | None = None,
    watermarks: WatermarkRaiser | None = None,
) -> BatchConsumer[LatestGradebookEvent]:
    """The consumer of the tenant-wide durable (standards, policies, and attempts sent before
    partitioning); each batch a span of `tracing` (none recorded without one). Batches note their
    tenants to `watermarks` (without it, each batch raises them itself)."""
    bus = bus_names(config)
    projector = MasteryProjector(pool, bus, policy, watermarks=watermarks)
    # Each applied batch's size and time, and a progress line with the lag now and then (asked
    # of the consumer built next, once it runs).
    progress = progress or BatchProgress("projector", metrics, lag=lambda: consumer.lag())  # noqa: PLW0108
    handle = _measured(projector, progress, tracing)
    consumer = BatchConsumer(
        _projector_settings(config, partition=None),
        gradebook_envelopes(),
        handle,
        runs_alone=projector.runs_alone,
    )
    return consumer


def build_projectors(
    config: MasteryConfig,
    pool: asyncpg.Pool,
    policy: CalculationPolicy = DEFAULT_POLICY,
    metrics: ServiceMetrics | None = None,
    *,
    first_look: float = 0.0,
    tracing: Tracing | None = None,
    watermarks: WatermarkRaiser | None = None,
) -> PartitionOwnership:
    """The consumers of the partitions (and the tenant-wide durable) this instance owns among
    the live instances (services/mastery/adapters/ownership.py), all noting to one
    `watermarks`. The partitions' consumers apply their batches through one `GroupCommit`: what
    they fetch while a transaction runs is applied together in the next one."""
    partitions = config.bus_projector_partitions
    progress = BatchProgress("projector", metrics, lag=lambda: ownership.lag())  # noqa: PLW0108
    partitioned = MasteryProjector(
        pool, bus_names(config), policy, partitioned=True, watermarks=watermarks
    )
    group = GroupCommit(_measured(partitioned, progress, tracing))

    def consumer_of(slot: int) -> BatchConsumer[LatestGradebookEvent]:
        if slot == tenant_wide_slot(partitions):
            return build_projector(
                config, pool, policy, metrics, progress=progress, tracing=tracing,
                watermarks=watermarks,
            )  # fmt: skip
        return BatchConsumer(
            _projector_settings(config, partition=slot), gradebook_envelopes(), group.handle
        )

    ownership = PartitionOwnership(
        config.database_url, partitions, consumer_of, first_look=first_look
    )
    return ownership


def _projector_settings(config: MasteryConfig, *, partition: int | None) -> ConsumerSettings:
    """The tenant-wide durable's consumer (no partition), or a partition's."""
    bus = bus_names(config)
    if partition is None:
        filter_subject, durable = bus.all_attempts(), PROJECTOR_NAME
        in_flight, retry_delay = config.projector_batches_in_flight, TENANT_WIDE_RETRY_DELAY
    else:
        # One batch at a time: a partition's students' events are applied in their order. A
        # batch waiting for a standard the tenant-wide durable is applying (`WaitingForAnother`)
        # looks again soon: that takes milliseconds, and a read may be waiting for the attempt.
        filter_subject, durable = bus.partition_attempts(partition), partition_durable(partition)
        in_flight, retry_delay = 1, PARTITION_RETRY_DELAY
    return ConsumerSettings(
        nats_url=config.nats_url,
        bus=bus,
        stream=bus.attempts_stream,
        filter_subject=filter_subject,
        durable=durable,
        batch_size=config.projector_batch_size,
        max_deliver=config.projector_max_deliver,
        max_in_flight=in_flight,
        retry_delay=retry_delay,
        retry_max_delay=config.consumer_retry_max_delay,
        retry_later_limit=config.consumer_retry_later_limit,
    )


def _measured(
    projector: MasteryProjector, progress: BatchProgress, tracing: Tracing | None
) -> Handler[LatestGradebookEvent]:
    """The projector's batches, each timed and counted, and a span of `tracing`."""
    return traced_batches(
        tracing or Tracing(),
        "projector batch",
        progress.observed(projector.handle_gradebook_events),
    )


def create_app(
    config: MasteryConfig,
    *,
    pool: asyncpg.Pool | None = None,
    on_give_up: GiveUp = terminate_process,
    student_names: StudentNames | None = None,
    time_zones: TimeZones | None = None,
    tracing: Tracing | None = None,
) -> Litestar:
    """The service. `student_names` gives the family report its names (else the roster's) and
    `time_zones` each school's zone (else REPORT_TIME_ZONE)."""
    report = family_report_router(
        config.report_link_secret.encode(),
        ReportRenderer(),
        student_names or RosterNames(),
        time_zones or OneTimeZone(config.report_time_zone),
    )

    def read_wait() -> ReadWait:
        return ReadWait(timeout=config.read_wait_timeout)

    metrics = ServiceMetrics("mastery")
    traced = tracing or Tracing.from_config(config, "mastery")
    # The projector is built with the workers' pool, after the probes are handed over.
    projectors: list[PartitionOwnership] = []

    async def owned_partitions(pool: asyncpg.Pool) -> list[Metric]:
        return await projectors[-1].owned_series() if projectors else []

    def workers(pool: asyncpg.Pool) -> list[NamedWorker]:
        watermarks = WatermarkRaiser(pool)
        projector = build_projectors(
            config, pool, metrics=metrics, tracing=traced, watermarks=watermarks
        )
        projectors.append(projector)
        relay = outbox_relay(
            config, pool, log=RELAYED_LOG, client_name="mastery-relay", user=MASTERY_USER
        )
        rosters = outbox_relay(
            config,
            pool,
            log=roster_log(bus_names(config)),
            client_name="mastery-roster-relay",
            user=MASTERY_USER,
        )
        return [
            NamedWorker("projector", projector.run, projector.lag, projector.counts),
            NamedWorker("watermarks", watermarks.run, watermarks.lag),
            NamedWorker("relay", relay.run, relay.lag, relay_counts(relay)),
            NamedWorker("roster-relay", rosters.run, rosters.lag, relay_counts(rosters)),
        ]

    return create_service_app(
        title="Mastery API",
        description="Current proficiency per student and standard, with its explanation.",
        config=config,
        route_handlers=[
            MasteryController,
            ResyncController,
            CalculatorController,
            PreviewController,
            RosterController,
            ClassesController,
            ClassReportsController,
            ReportCardController,
            GradebookController,
            report,
        ],
        workers=workers,
        dependencies={"read_wait": Provide(read_wait, sync_to_thread=False)},
        pool=pool,
        on_give_up=on_give_up,
        service_metrics=metrics,
        metric_probes=[
            outbox_probe(RELAYED_LOG),
            outbox_probe(roster_log(bus_names(config))),
            owned_partitions,
        ],
        tracing=traced,
    )
