"""Composition root of the mastery service: the projector, its outbox relay and the read API."""

import asyncpg
from litestar import Litestar
from litestar.di import Provide

from services.mastery.adapters.calculator import CalculatorController
from services.mastery.adapters.change_log import RELAYED_LOG
from services.mastery.adapters.freshness import ReadWait
from services.mastery.adapters.http import MasteryController
from services.mastery.adapters.preview import PreviewController
from services.mastery.adapters.projector import PROJECTOR_NAME, MasteryProjector
from services.mastery.adapters.resync import ResyncController
from services.mastery.config import MasteryConfig
from services.mastery.core.calculation import FALLBACK_POLICY, CalculationPolicy
from services.mastery.migrations import MIGRATIONS
from shared.contract.events.gradebook import LatestGradebookEvent, gradebook_envelopes
from shared.platform.bus import BusNames
from shared.platform.bus_users import MASTERY_USER
from shared.platform.consumer import BatchConsumer, ConsumerSettings
from shared.platform.outbox import outbox_relay
from shared.platform.service import create_service_app
from shared.platform.supervisor import GiveUp, NamedWorker, terminate_process

__all__ = ["MIGRATIONS", "build_projector", "create_app"]

DEFAULT_POLICY = FALLBACK_POLICY


def build_projector(
    config: MasteryConfig, pool: asyncpg.Pool, policy: CalculationPolicy = DEFAULT_POLICY
) -> BatchConsumer[LatestGradebookEvent]:
    bus = BusNames(config.bus_namespace)
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
    return BatchConsumer(
        settings,
        gradebook_envelopes(),
        projector.handle_gradebook_events,
        runs_alone=projector.runs_alone,
    )


def create_app(
    config: MasteryConfig,
    *,
    pool: asyncpg.Pool | None = None,
    on_give_up: GiveUp = terminate_process,
) -> Litestar:
    def read_wait() -> ReadWait:
        return ReadWait(timeout=config.read_wait_timeout)

    def workers(pool: asyncpg.Pool) -> list[NamedWorker]:
        projector = build_projector(config, pool)
        relay = outbox_relay(
            config, pool, log=RELAYED_LOG, client_name="mastery-relay", user=MASTERY_USER
        )
        return [
            NamedWorker("projector", projector.run, projector.lag),
            NamedWorker("relay", relay.run, relay.lag),
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
        ],
        workers=workers,
        dependencies={"read_wait": Provide(read_wait, sync_to_thread=False)},
        pool=pool,
        on_give_up=on_give_up,
    )
