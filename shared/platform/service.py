"""What every service process shares: app assembly, health routes, background workers, serving."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import msgspec
import uvicorn
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler

from shared.platform.config import ServiceConfig
from shared.platform.connections import server_options
from shared.platform.http import (
    BEARER_SECURITY,
    PROBLEM_HANDLERS,
    SECURITY_REQUIREMENT,
    ExceptionHandler,
    Problem,
    TenantKeyCache,
    retry_after,
    tenant_dependency,
)
from shared.platform.limits import rate_limits
from shared.platform.postgres import create_pool
from shared.platform.supervisor import (
    GiveUp,
    NamedWorker,
    RestartPolicy,
    Supervisor,
    terminate_process,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Readiness answers within about this long even when PostgreSQL does not.
READY_PROBE_TIMEOUT = 2.0

# Allocations between two collections of the youngest generation (CPython's default is 700).
YOUNG_COLLECTION_EVERY = 20_000


@get("/health/live", tags=["health"], summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", tags=["health"], summary="PostgreSQL answers and every worker runs")
async def ready(state: State) -> dict[str, object]:
    """Ready when the database answers and every worker is alive; each worker's lag either way."""
    supervisor: Supervisor = state.supervisor
    workers = msgspec.to_builtins(await supervisor.report())
    try:
        await asyncio.wait_for(state.pool.fetchval("SELECT 1"), READY_PROBE_TIMEOUT)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        detail = f"database unavailable: {type(error).__name__}: {error}"
        raise _not_ready(detail, workers) from error
    down = [name for name, worker in workers.items() if not worker["alive"]]
    if down:
        raise _not_ready(f"workers not running: {', '.join(down)}", workers)
    return {"status": "ready", "workers": workers}


def _not_ready(detail: str, workers: object) -> Problem:
    problem = Problem(503, "not-ready", "Not ready", detail, workers=workers)
    problem.headers = retry_after()
    return problem


def _pool_of(request: Any) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def restart_policy(config: ServiceConfig) -> RestartPolicy:
    return RestartPolicy(
        delay=config.worker_restart_delay,
        max_delay=config.worker_restart_max_delay,
        max_failures=config.worker_max_failures,
        window=config.worker_failure_window,
    )


def create_service_app(
    *,
    title: str,
    description: str,
    config: ServiceConfig,
    route_handlers: Sequence[ControllerRouterHandler],
    workers: Callable[[asyncpg.Pool], Sequence[NamedWorker]],
    dependencies: dict[str, Provide] | None = None,
    pool: asyncpg.Pool | None = None,
    max_body_bytes: int = 1_048_576,
    exception_handlers: Mapping[type[Exception], ExceptionHandler] | None = None,
    on_give_up: GiveUp = terminate_process,
) -> Litestar:
    """Assemble a service: its routes, a pool, its supervised workers, problem+json errors.

    Shutdown order: stop the workers (they finish their batch and drain NATS), then close the pool.
    """

    # Each app verifies a key against the database at most every KEY_CACHE_SECONDS; the rate
    # limit counts the keys this cache holds.
    keys = TenantKeyCache()
    limits = rate_limits(config, keys, service=title)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned_pool = pool is None
        app.state.pool = pool or await create_pool(config.database_url)
        supervisor = Supervisor(
            workers(app.state.pool), policy=restart_policy(config), on_give_up=on_give_up
        )
        app.state.supervisor = supervisor
        stop = asyncio.Event()
        supervisor.start(stop)
        try:
            yield
        finally:
            stop.set()
            await supervisor.wait()
            if owned_pool:
                await app.state.pool.close()
            await limits.aclose()

    handlers: dict[type[Exception], ExceptionHandler] = {
        **PROBLEM_HANDLERS,
        **limits.handlers,
        **(exception_handlers or {}),
    }
    return Litestar(
        route_handlers=[live, ready, *route_handlers],
        dependencies={
            "tenant": Provide(tenant_dependency(_pool_of, keys)),
            **(dependencies or {}),
        },
        lifespan=[lifespan],
        middleware=limits.middleware,
        stores=limits.stores,
        request_max_body_size=max_body_bytes,
        exception_handlers=handlers,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title=title,
            version="1.0.0",
            description=description,
            path="/schema",
            components=BEARER_SECURITY,
            security=SECURITY_REQUIREMENT,
        ),
    )


def run_until_complete(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine on uvloop where it is installed, as the services run under
    uvicorn (a database round trip costs this process about a third of asyncio's CPU there)."""
    try:
        import uvloop  # noqa: PLC0415 - not installed on Windows
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def tune_garbage_collector() -> None:
    """Set up a service process's collector once its modules and app are built.

    Requests, batches and events are short-lived and rarely cyclic, but CPython walks the youngest
    generation every 700 allocations and, now and then, every object of the process. Freezing
    what startup built (modules, the app) takes it out of those walks, and collecting the youngest
    generation every `YOUNG_COLLECTION_EVERY` allocations walks it less often: together about 8 %
    less CPU per projected event and per batched attempt on a 2-core machine
    (docs/benchmarks.md). Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


def serve(app: Litestar, host: str, port: int, config: ServiceConfig) -> None:
    """Run one service on uvicorn with the configured header and idle timeouts and connection
    limit; SIGINT/SIGTERM trigger the lifespan's graceful shutdown."""
    tune_garbage_collector()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        app, host=host, port=port, log_level="warning", loop="auto", **server_options(config)
    )
