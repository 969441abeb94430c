"""Composition root of the mastery service: the projector, its outbox relay and the read API."""

import asyncpg
from litestar import Litestar
from litestar.di import Provide

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
from services.mastery.adapters.preview import PreviewController
from services.mastery.adapters.projector import PROJECTOR_NAME, MasteryProjector
from services.mastery.adapters.report_card_http import ReportCardController
from services.mastery.adapters.resync import ResyncController
from services.mastery.adapters.roster_http import ClassesController, RosterController
from services.mastery.adapters.roster_relay import roster_log
from services.mastery.adapters.roster_views import RosterNames
from services.mastery.config import MasteryConfig
from services.mastery.core.calculation import FALLBACK_POLICY, CalculationPolicy
from services.mastery.migrations import MIGRATIONS
from shared.contract.events.gradebook import LatestGradebookEvent, gradebook_envelopes
from shared.platform.batch_progress import BatchProgress
from shared.platform.bus import bus_names
from shared.platform.bus_users import MASTERY_USER
from shared.platform.consumer import BatchConsumer, ConsumerSettings
from shared.platform.metrics import (
    ServiceMetrics,
    consumer_counts,
    outbox_probe,
    relay_counts,
)
from shared.platform.outbox import outbox_relay
from shared.platform.service import create_service_app
from shared.platform.supervisor import GiveUp, NamedWorker, terminate_process
from shared.platform.tracing import Tracing, traced_batches

__all__ = ["MIGRATIONS", "build_projector", "create_app"]

DEFAULT_POLICY = FALLBACK_POLICY


def build_projector(
    config: MasteryConfig,
    pool: asyncpg.Pool,
    policy: CalculationPolicy = DEFAULT_POLICY,
    metrics: ServiceMetrics | None = None,
    tracing: Tracing | None = None,
) -> BatchConsumer[LatestGradebookEvent]:
    """The projector's consumer; each batch a span of `tracing` (none recorded without one)."""
    bus = bus_names(config)
    projector = MasteryProjector(pool, bus, policy)
    settings = ConsumerSettings(
        nats_url=config.nats_url,
        bus=bus,
        stream=bus.attempts_stream,
        filter_subject=bus.all_attempts(),
        durable=PROJECTOR_NAME,
        batch_size=config.projector_batch_size,
        max_deliver=config.projector_max_deliver,
        max_in_flight=config.projector_batches_in_flight,
        retry_max_delay=config.consumer_retry_max_delay,
        retry_later_limit=config.consumer_retry_later_limit,
    )
    # Each applied batch's size and time, and a progress line with the lag now and then (asked
    # of the consumer built next, once it runs).
    progress = BatchProgress("projector", metrics, lag=lambda: consumer.lag())  # noqa: PLW0108
    consumer = BatchConsumer(
        settings,
        gradebook_envelopes(),
        traced_batches(
            tracing or Tracing(),
            "projector batch",
            progress.observed(projector.handle_gradebook_events),
        ),
        runs_alone=projector.runs_alone,
    )
    return consumer


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

    def workers(pool: asyncpg.Pool) -> list[NamedWorker]:
        projector = build_projector(config, pool, metrics=metrics, tracing=traced)
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
            NamedWorker("projector", projector.run, projector.lag, consumer_counts(projector)),
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
        metric_probes=[outbox_probe(RELAYED_LOG), outbox_probe(roster_log(bus_names(config)))],
        tracing=traced,
    )
