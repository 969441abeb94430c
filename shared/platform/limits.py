"""Per-API-key rate limits: Litestar's rate-limit middleware, keyed by the id of a verified key.

The middleware runs before authentication (a dependency of the handler), so it cannot await the
key lookup. It counts a request against its key only when this process has verified that exact
key (it is in the key cache, fresh or not), which costs a SHA-256 and a dict lookup, never a
database query. Requests without such a key (no key, an unknown or revoked key, a key this process
has not seen) are not counted: authentication answers them (401, or verifies and caches the key).
A stale entry still counts, so the limit does not lapse while the key is looked up again after
the cache's TTL. Keying by a
key id the client merely claims would let anyone who knows a key id spend its tenant's budget, and
keying by client address would put every tenant behind one proxy into one bucket.
"""

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from weakref import WeakValueDictionary

import anyio
from litestar import Request, Response
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import CacheObject, RateLimitConfig, RateLimitMiddleware
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.types import ASGIApp, Receive, Scope, Send

from shared.platform.auth import KeyCache
from shared.platform.config import ServiceConfig
from shared.platform.http import ExceptionHandler, problem_response
from shared.platform.tenancy import parse_key

STORE_NAME = "rate_limit"
# Probes and the API description stay reachable whatever a key has spent.
UNLIMITED_PATHS = ["^/health/", "^/schema"]
# A Redis that does not answer within this long lets the request through (see FailOpenStore).
REDIS_TIMEOUT_SECONDS = 0.25

logger = logging.getLogger(__name__)


@dataclass
class RateLimits:
    """What a service app needs for its limits: middleware, the store, the 429 handler."""

    middleware: list[DefineMiddleware] = field(default_factory=list)
    stores: dict[str, Store] = field(default_factory=dict)
    handlers: dict[type[Exception], ExceptionHandler] = field(default_factory=dict)
    close: Callable[[], Awaitable[None]] | None = None

    async def aclose(self) -> None:
        if self.close is not None:
            await self.close()


def rate_limits(config: ServiceConfig, keys: KeyCache, service: str) -> RateLimits:
    """The configured per-key limit of `service`, or none when `rate_limit_requests` is 0."""
    if config.rate_limit_requests <= 0:
        return RateLimits()
    store, close = _store(config, service)

    def key_id(request: Request[Any, Any, Any]) -> str | None:
        presented = _bearer(request)
        if presented is None or not keys.known(presented):
            return None
        parsed = parse_key(presented)
        return parsed[0] if parsed else None

    # Async on purpose: Litestar runs a synchronous check in a worker thread, per request.
    async def counted(request: Request[Any, Any, Any]) -> bool:
        return key_id(request) is not None

    limit = RateLimitConfig(
        rate_limit=(config.rate_limit_window, config.rate_limit_requests),
        exclude=UNLIMITED_PATHS,
        identifier_for_request=lambda request: f"key:{key_id(request)}",
        check_throttle_handler=counted,
        middleware_class=KeyRateLimitMiddleware,
        store=STORE_NAME,
    )
    return RateLimits(
        middleware=[limit.middleware],
        stores={STORE_NAME: store},
        handlers={TooManyRequestsException: _too_many_requests(config)},
        close=close,
    )


class KeyRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's rate limit, with one lock per key instead of one for every request, and a key
    found over its limit refused from memory until its window ends.

    Litestar's middleware reads and writes a key's count under a single lock, so every request
    waits behind every other one's store round trip: a flooding key queued the other tenants
    behind its own requests (their p99 went from tens of milliseconds to over a second). Counting
    stays Litestar's (the store, the window, the headers); only the lock and the refusal differ.
    """

    def __init__(self, app: ASGIApp, config: RateLimitConfig) -> None:
        super().__init__(app, config)
        self._locks: WeakValueDictionary[str, anyio.Lock] = WeakValueDictionary()
        # Another instance cannot give a key back requests before its window ends.
        self._spent: dict[str, CacheObject] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        if not await self.should_check_request(request=request):
            await self.app(scope, receive, send)
            return
        key = self.cache_key_from_request(request)
        spent = self._spent.get(key)
        if spent is not None and spent.reset > int(time.time()):
            raise TooManyRequestsException(headers=self.create_response_headers(spent))
        self._spent.pop(key, None)
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            counted = await self.retrieve_cached_history(key, self.config.get_store_from_app(app))
            if len(counted.history) >= self.max_requests:
                self._spent[key] = counted
                raise TooManyRequestsException(headers=self.create_response_headers(counted))
            await self.set_cached_history(key, counted, self.config.get_store_from_app(app))
        await self.app(scope, receive, self.create_send_wrapper(send, counted))


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    presented = presented.strip()
    return presented if scheme.lower() == "bearer" and presented else None


def _too_many_requests(config: ServiceConfig) -> ExceptionHandler:
    limit, window = config.rate_limit_requests, config.rate_limit_window

    def handler(
        request: Request[Any, Any, Any], error: TooManyRequestsException
    ) -> Response[dict[str, object]]:
        headers = dict(error.headers or {})
        # Seconds until the key's window ends; the middleware says 0 in its last second.
        wait = max(1, int(headers.get("RateLimit-Reset", "1")))
        response = problem_response(
            request,
            status=429,
            slug="rate-limited",
            title="Too many requests",
            detail=(
                f"This API key sent {limit} requests in the current {window}, its limit. "
                f"Try again in {wait} seconds."
            ),
        )
        response.headers.update({**headers, "Retry-After": str(wait)})
        return response

    return handler


def _store(
    config: ServiceConfig, service: str
) -> tuple[Store, Callable[[], Awaitable[None]] | None]:
    if not config.rate_limit_redis_url:
        return MemoryStore(), None
    # Only deployments that share limits across instances need the redis package.
    from litestar.stores.redis import RedisStore  # noqa: PLC0415
    from redis.asyncio import Redis  # noqa: PLC0415
    from redis.exceptions import RedisError  # noqa: PLC0415

    client = Redis.from_url(
        config.rate_limit_redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    slug = re.sub(r"[^a-z0-9]+", "-", service.lower()).strip("-")
    namespace = f"rate-limit:{config.bus_namespace}:{slug}"
    store = FailOpenStore(RedisStore(client, namespace=namespace), errors=(RedisError, OSError))
    return store, client.aclose


class FailOpenStore(Store):
    """A shared store whose outage lets requests through rather than failing them.

    A rate limit guards capacity; refusing every request while Redis is away would turn a Redis
    outage into an API outage. Reads answer "nothing counted", writes are dropped, and the outage
    is logged once, when it starts.
    """

    def __init__(self, inner: Store, errors: tuple[type[Exception], ...]) -> None:
        self._inner = inner
        self._errors = errors
        self._failing = False

    def _failed(self, error: Exception) -> None:
        if not self._failing:
            logger.warning("rate-limit store unavailable, not limiting: %s", error)
        self._failing = True

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            value = await self._inner.get(key, renew_for)
        except self._errors as error:
            self._failed(error)
            return None
        self._failing = False
        return value

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        try:
            await self._inner.set(key, value, expires_in)
        except self._errors as error:
            self._failed(error)

    async def delete(self, key: str) -> None:
        await self._inner.delete(key)

    async def delete_all(self) -> None:
        await self._inner.delete_all()

    async def exists(self, key: str) -> bool:
        return await self._inner.exists(key)

    async def expires_in(self, key: str) -> int | None:
        return await self._inner.expires_in(key)


__all__ = [
    "STORE_NAME",
    "UNLIMITED_PATHS",
    "FailOpenStore",
    "KeyRateLimitMiddleware",
    "RateLimits",
    "rate_limits",
]
