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
from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Contact, License
from litestar.routes import HTTPRoute
from litestar.types import ControllerRouterHandler

from shared.platform.auth import KeyCache, authenticated_actor, authenticated_tenant, key_guard
from shared.platform.bodies import BoundedRequest
from shared.platform.config import ServiceConfig, masked_urls
from shared.platform.connections import server_options
from shared.platform.http import (
    BEARER_SECURITY,
    PROBLEM_HANDLERS,
    SECURITY_REQUIREMENT,
    ExceptionHandler,
    Problem,
    retry_after,
)
from shared.platform.key_listener import KeyChangeListener
from shared.platform.limits import rate_limits
from shared.platform.logs import access_log, bind_tenant, configure_logging
from shared.platform.metrics import CONTENT_TYPE, Probe, ServiceMetrics, request_metrics
from shared.platform.openapi import (
    document_problems,
    mark_public_operations,
    polish,
    problem,
    strict_request_schemas,
)
from shared.platform.postgres import create_pool
from shared.platform.problem_types import problem_type
from shared.platform.supervisor import (
    GiveUp,
    NamedWorker,
    RestartPolicy,
    Supervisor,
    terminate_process,
)
from shared.platform.tracing import Tracing, traced_requests

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Readiness answers within about this long even when PostgreSQL does not.
READY_PROBE_TIMEOUT = 2.0

# Connections the workers share: a relay holds its leader lock on one while it publishes with
# another; the projector applies a batch per partition it owns (one instance alone owns them all).
WORKER_POOL_SIZE = 12

# Allocations between two collections of the youngest generation (CPython's default is 700).
YOUNG_COLLECTION_EVERY = 20_000


@get("/health/live", tags=["health"], summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/health/ready",
    tags=["health"],
    summary="PostgreSQL answers and every worker runs",
    responses={503: problem("Not ready: PostgreSQL does not answer or a worker is down")},
)
async def ready(state: State) -> dict[str, object]:
    """Ready when the database answers and every worker is alive; each worker's lag either way."""
    supervisor: Supervisor = state.supervisor
    workers = msgspec.to_builtins(await supervisor.report())
    try:
        await asyncio.wait_for(state.pool.fetchval("SELECT 1"), READY_PROBE_TIMEOUT)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        # The driver's message may quote the server's address; never its credentials.
        detail = masked_urls(f"database unavailable: {type(error).__name__}: {error}")
        raise _not_ready(detail, workers) from error
    down = [name for name, worker in workers.items() if not worker["alive"]]
    if down:
        raise _not_ready(f"workers not running: {', '.join(down)}", workers)
    return {"status": "ready", "workers": workers}


@get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    """Every series of this app in the Prometheus text format (public, like the probes)."""
    service_metrics: ServiceMetrics = state.metrics
    pools = {"requests": state.pool, "workers": state.worker_pool}
    text = await service_metrics.exposition(state.supervisor, pools, state.metric_probes)
    return Response(text, media_type=CONTENT_TYPE)


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


async def _service_pools(dsn: str) -> list[asyncpg.Pool]:
    requests = await create_pool(dsn)
    try:
        return [
            requests,
            await create_pool(dsn, min_size=1, max_size=WORKER_POOL_SIZE, all_tenants=True),
        ]
    except BaseException:
        await requests.close()
        raise


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
    service_metrics: ServiceMetrics | None = None,
    metric_probes: Sequence[Probe] = (),
    tracing: Tracing | None = None,
) -> Litestar:
    """Assemble a service: its routes, two pools, its supervised workers, problem+json errors,
    `/metrics` (`service_metrics`, or a registry of its own, and the `metric_probes` the service
    reads at each scrape), and a request id, trace id and tenant on every log line of a request.
    Each request is a span of `tracing` (else of the tracing `config` describes), continuing the
    client's `traceparent`; the provider it built is shut down (its spans exported) on stop.

    Every route that declares a scope (`shared.platform.auth.requires`) takes an API key granting
    it; a worker of its own (`keys`) drops revoked keys from this app's cache as they change.
    Requests borrow from `state.pool`, whose connections see the tenant each borrower names;
    the workers get a pool of their own that sees every tenant (`tenant_scope.py`). A `pool`
    given (tests) serves both. Shutdown order: stop the workers (they finish their batch and
    drain NATS), then close the pools.
    """
    # Each app verifies a key against the database at most every KEY_CACHE_SECONDS, or at once
    # after a change heard of; the rate limit counts the keys this cache holds.
    keys = KeyCache()
    key_listener = KeyChangeListener(config.database_url, keys)
    limits = rate_limits(config, keys, service=title)
    service = title.removesuffix(" API").lower()
    observed = service_metrics or ServiceMetrics(service)
    traced = tracing or Tracing.from_config(config, service)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = [] if pool else await _service_pools(config.database_url)
        app.state.pool = pool or owned[0]
        worker_pool = pool or owned[1]
        app.state.worker_pool = worker_pool
        supervisor = Supervisor(
            [*workers(worker_pool), key_listener.worker()],
            policy=restart_policy(config),
            on_give_up=on_give_up,
        )
        app.state.supervisor = supervisor
        stop = asyncio.Event()
        supervisor.start(stop)
        try:
            yield
        finally:
            stop.set()
            await supervisor.wait(config.worker_stop_timeout)
            for owned_pool in owned:
                await owned_pool.close()
            await limits.aclose()
            await asyncio.to_thread(traced.shutdown)

    handlers: dict[type[Exception], ExceptionHandler] = {
        **PROBLEM_HANDLERS,
        **limits.handlers,
        **(exception_handlers or {}),
    }
    app = Litestar(
        route_handlers=[live, ready, metrics, problem_type, *route_handlers],
        guards=[key_guard(_pool_of, keys), bind_tenant],
        dependencies={
            "tenant": Provide(authenticated_tenant, sync_to_thread=False),
            "actor": Provide(authenticated_actor, sync_to_thread=False),
            **(dependencies or {}),
        },
        lifespan=[lifespan],
        middleware=[
            traced_requests(traced),
            access_log,
            request_metrics(observed),
            *limits.middleware,
        ],
        request_max_body_size=max_body_bytes,
        request_class=BoundedRequest,
        exception_handlers=handlers,  # type: ignore[arg-type]
        state=State({"metrics": observed, "metric_probes": list(metric_probes)}),
        openapi_config=OpenAPIConfig(
            title=title,
            version="1.0.0",
            description=description,
            path="/schema",
            components=BEARER_SECURITY,
            contact=Contact(name="Mastery gradebook maintainers"),
            license=License(name="Apache-2.0", identifier="Apache-2.0"),
            security=SECURITY_REQUIREMENT,
        ),
    )
    _allow_every_method_on_options(app)
    document_problems(app)
    mark_public_operations(app, app.openapi_schema)
    strict_request_schemas(app, app.openapi_schema)
    polish(app.openapi_schema)
    return app


def _allow_every_method_on_options(app: Litestar) -> None:
    """OPTIONS answers `Allow` with every method of its path (RFC 9110 section 9.3.7).

    Litestar makes a path's OPTIONS handler with its first route handler and keeps it when a
    second method joins the path, so `/v1/policy` (GET, then PUT) answered `Allow: GET, OPTIONS`.
    Each OPTIONS handler is given the methods of the route it ended up in.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"}:
                handler._fn = _options(sorted(route.methods))  # type: ignore[assignment]


def _options(methods: list[str]) -> Callable[[Any], Response[None]]:
    def options_handler(scope: Any) -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": ", ".join(methods)})

    return options_handler


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
    configure_logging()
    # No logging config of uvicorn's own: its records go through the JSON lines above, and the
    # access line is `access_log`'s.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        loop="auto",
        **server_options(config),
    )
