"""Composition root of the attempts service."""

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from services.attempts.adapters.event_store import AttemptStore
from services.attempts.adapters.http import AttemptsController
from services.attempts.config import AttemptsConfig
from services.attempts.migrations import MIGRATIONS
from shared.bus import BusNames
from shared.outbox import OutboxRelay, RelaySettings
from shared.service import Worker, create_service_app

__all__ = ["MIGRATIONS", "create_app"]


def create_app(config: AttemptsConfig, *, pool: asyncpg.Pool | None = None) -> Litestar:
    bus = BusNames(config.bus_namespace)

    def workers(pool: asyncpg.Pool) -> list[Worker]:
        relay = OutboxRelay(
            pool,
            RelaySettings(
                table="attempts_outbox",
                nats_url=config.nats_url,
                client_name="attempts-relay",
                bus=bus,
                batch_size=config.relay_batch_size,
                idle_interval=config.relay_idle_interval,
            ),
        )
        return [relay.run]

    def provide_store(state: State) -> AttemptStore:
        return AttemptStore(state.pool, bus)

    return create_service_app(
        title="Attempts API",
        description="Records assessment attempts as immutable events.",
        database_url=config.database_url,
        route_handlers=[AttemptsController],
        workers=workers,
        dependencies={"store": Provide(provide_store, sync_to_thread=False)},
        pool=pool,
    )
