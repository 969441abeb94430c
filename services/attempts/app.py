"""Composition root of the attempts service."""

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from services.attempts.adapters.event_store import StreamContended, relayed_log
from services.attempts.adapters.http import (
    AttemptsController,
    CorrectiveWorkController,
    stream_contended_handler,
)
from services.attempts.adapters.log_metrics import AppendedEvents
from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.adapters.standards_http import PolicyController, StandardsController
from services.attempts.adapters.standards_store import StandardsStore
from services.attempts.config import AttemptsConfig
from services.attempts.migrations import MIGRATIONS
from shared.platform.bus import bus_names
from shared.platform.bus_users import ATTEMPTS_USER
from shared.platform.metrics import outbox_probe, relay_counts
from shared.platform.outbox import outbox_relay
from shared.platform.service import create_service_app
from shared.platform.supervisor import GiveUp, NamedWorker, terminate_process
from shared.platform.tracing import Tracing

__all__ = ["MIGRATIONS", "create_app"]


def create_app(
    config: AttemptsConfig,
    *,
    pool: asyncpg.Pool | None = None,
    on_give_up: GiveUp = terminate_process,
    tracing: Tracing | None = None,
) -> Litestar:
    """The service; each event appended keeps the trace context of its request (`tracing`: the
    spans' provider, else the one the config describes)."""
    bus = bus_names(config)

    def workers(pool: asyncpg.Pool) -> list[NamedWorker]:
        relay = outbox_relay(
            config, pool, log=relayed_log(bus), client_name="attempts-relay", user=ATTEMPTS_USER
        )
        return [NamedWorker("relay", relay.run, relay.lag, relay_counts(relay))]

    def provide_recorder(state: State) -> AttemptRecorder:
        return AttemptRecorder(state.pool)

    def provide_standards(state: State) -> StandardsStore:
        return StandardsStore(state.pool)

    return create_service_app(
        title="Attempts API",
        description="Records standards, assessment attempts and corrections as immutable events.",
        config=config,
        route_handlers=[
            AttemptsController,
            CorrectiveWorkController,
            StandardsController,
            PolicyController,
        ],
        workers=workers,
        dependencies={
            "recorder": Provide(provide_recorder, sync_to_thread=False),
            "standards": Provide(provide_standards, sync_to_thread=False),
        },
        # A full batch of 1,000 attempts is about 250 KB.
        max_body_bytes=1_048_576,
        exception_handlers={StreamContended: stream_contended_handler},
        pool=pool,
        on_give_up=on_give_up,
        metric_probes=[outbox_probe(relayed_log(bus)), AppendedEvents()],
        tracing=tracing,
    )
