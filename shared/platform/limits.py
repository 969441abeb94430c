"""Per-API-key rate limits: a smooth limit (GCRA) keyed by the id of a verified key.

Why not Litestar's `RateLimitConfig`: its window is fixed (a count reset every second), so a key
flooding the service gets its whole budget admitted at the flood's rate at the start of each
window. Measured in the noisy-neighbour bench: a key offering 10x its 100/s limit had its 100
requests admitted within the first ~0.1 s of each second, and the other tenants' requests in that
stretch queued behind them (docs/benchmarks.md). GCRA (`gcra.py`) admits one request per
1/limit seconds with a small burst, so a flooding key's admitted requests arrive spread out at
its limit, as an honest client's would.

The middleware runs before authentication (a dependency of the handler), so it cannot await the
key lookup. It counts a request against its key only when this process has verified that exact
key (it is in the key cache, fresh or not), which costs a SHA-256 and a dict lookup, never a
database query. Requests without such a key (no key, an unknown or revoked key, a key this process
has not seen) are not counted: authentication answers them (401, or verifies and caches the key).
A stale entry still counts, so the limit does not lapse while the key is looked up again after
the cache's TTL. Keying by a key id the client merely claims would let anyone who knows a key id
spend its tenant's budget, and keying by client address would put every tenant behind one proxy
into one bucket.
"""

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from shared.platform.auth import KeyCache
from shared.platform.config import ServiceConfig
from shared.platform.gcra import Decision, Policy, remaining, whole_seconds
from shared.platform.http import ExceptionHandler, problem_response
from shared.platform.rate_stores import MemoryRateStore, RateStore, RedisRateStore
from shared.platform.tenancy import parse_key

# Probes, scrapes and the API description stay reachable whatever a key has spent.
UNLIMITED_PATHS = re.compile("^/health/|^/metrics$|^/schema")
# A Redis that does not answer within this long lets the request through (RedisRateStore).
REDIS_TIMEOUT_SECONDS = 0.25
WINDOW_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


@dataclass
class RateLimits:
    """What a service app needs for its limits: the middleware and the 429 handler."""

    middleware: list[DefineMiddleware] = field(default_factory=list)
    handlers: dict[type[Exception], ExceptionHandler] = field(default_factory=dict)
    close: Callable[[], Awaitable[None]] | None = None

    async def aclose(self) -> None:
        if self.close is not None:
            await self.close()


def policy_of(config: ServiceConfig) -> Policy:
    """The configured policy; the burst defaults to a tenth of the limit (at least 1)."""
    limit = config.rate_limit_requests
    burst = config.rate_limit_burst if config.rate_limit_burst is not None else limit // 10
    return Policy(limit=limit, window=WINDOW_SECONDS[config.rate_limit_window], burst=max(1, burst))


def rate_limits(config: ServiceConfig, keys: KeyCache, service: str) -> RateLimits:
    """The configured per-key limit of `service`, or none when `rate_limit_requests` is 0."""
    if config.rate_limit_requests <= 0:
        return RateLimits()
    policy = policy_of(config)
    store = _store(config, policy, service)

    def key_id(request: Request[Any, Any, Any]) -> str | None:
        presented = _bearer(request)
        if presented is None or not keys.known(presented):
            return None
        parsed = parse_key(presented)
        return parsed[0] if parsed else None

    middleware = DefineMiddleware(KeyRateLimitMiddleware, policy=policy, store=store, key_id=key_id)
    return RateLimits(
        middleware=[middleware],
        handlers={TooManyRequestsException: _too_many_requests(config, policy)},
        close=store.aclose,
    )


class KeyRateLimitMiddleware:
    """Takes one request from the key's budget, or refuses it (429).

    A key found over its limit is refused from memory until its next allowed moment, without
    asking the store again: a flood of refused requests costs no store round trip (and with a
    shared Redis no other instance can give the key back requests before then).
    """

    def __init__(
        self,
        app: ASGIApp,
        policy: Policy,
        store: RateStore,
        key_id: Callable[[Request[Any, Any, Any]], str | None],
    ) -> None:
        self.app = app
        self._policy = policy
        self._store = store
        self._key_id = key_id
        self._refused_until: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or UNLIMITED_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = self._key_id(scope["litestar_app"].request_class(scope))
        if key is None:
            await self.app(scope, receive, send)
            return
        decision = await self._take(key)
        headers = self._headers(decision)
        if not decision.allowed:
            raise TooManyRequestsException(headers=headers)
        await self.app(scope, receive, _with_headers(send, headers))

    async def _take(self, key: str) -> Decision:
        now = time.monotonic()
        until = self._refused_until.get(key)
        if until is not None:
            if until > now:
                wait = until - now
                return Decision(allowed=False, wait=wait, backlog=wait + self._policy.tolerance)
            del self._refused_until[key]
        decision = await self._store.take(key)
        if not decision.allowed:
            self._refused_until[key] = now + decision.wait
        return decision

    def _headers(self, decision: Decision) -> dict[str, str]:
        policy = self._policy
        headers = {
            "RateLimit-Policy": f"{policy.limit};w={policy.window:g};burst={policy.burst}",
            "RateLimit-Limit": str(policy.limit),
            "RateLimit-Remaining": str(remaining(policy, decision)),
            "RateLimit-Reset": str(whole_seconds(decision.backlog)),
        }
        if not decision.allowed:
            headers["Retry-After"] = str(whole_seconds(decision.wait))
        return headers


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            response_headers = MutableScopeHeaders(message)
            for name, value in headers.items():
                response_headers.add(name, value)
        await send(message)

    return send_with_headers


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    presented = presented.strip()
    return presented if scheme.lower() == "bearer" and presented else None


def _too_many_requests(config: ServiceConfig, policy: Policy) -> ExceptionHandler:
    def handler(
        request: Request[Any, Any, Any], error: TooManyRequestsException
    ) -> Response[dict[str, object]]:
        headers = dict(error.headers or {})
        wait = headers.get("Retry-After", "1")
        response = problem_response(
            request,
            status=429,
            slug="rate-limited",
            title="Too many requests",
            detail=(
                f"This API key may send {policy.limit} requests per {config.rate_limit_window}, "
                f"evenly spread, at most {policy.burst} at once. Try again in {wait} seconds."
            ),
        )
        response.headers.update(headers)
        return response

    return handler


def _store(config: ServiceConfig, policy: Policy, service: str) -> RateStore:
    if not config.rate_limit_redis_url:
        return MemoryRateStore(policy)
    # Only deployments that share limits across instances need the redis package.
    from redis.asyncio import Redis  # noqa: PLC0415
    from redis.exceptions import RedisError  # noqa: PLC0415

    client = Redis.from_url(
        config.rate_limit_redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    slug = re.sub(r"[^a-z0-9]+", "-", service.lower()).strip("-")
    namespace = f"rate-limit:{config.bus_namespace}:{slug}"
    return RedisRateStore(policy, client, namespace, errors=(RedisError, OSError))


__all__ = ["UNLIMITED_PATHS", "KeyRateLimitMiddleware", "RateLimits", "policy_of", "rate_limits"]
