"""Who is calling and whether they may: API keys checked against the scope each route declares.

Every route of the services declares the scope it needs in its `opt` (`opt=requires("read")`).
One guard, installed on each app, authenticates the bearer key of a route that declares a scope
(401 when it is missing, unknown or revoked), refuses a key whose scope does not grant the
route's (403 naming the scope needed) and leaves the key in the connection's `auth`. Handlers get
`tenant` and `actor` from it. A route that declares no scope is public (health, the schema) and
has no key, so asking it for a tenant fails closed: an internal error, never another tenant's data.
"""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from shared.contract.actor import Actor
from shared.platform.http import Problem
from shared.platform.tenancy import ApiKey, Scope, grants, key_for

SCOPE_OPT = "scope"

# How long a process trusts a key it has verified without asking the database again, when it
# does not hear of changes (`shared.platform.key_listener` drops a changed key at once while it
# listens). Unknown, malformed and revoked keys are never cached, so a new key works at once.
KEY_CACHE_SECONDS = 5.0
KEY_CACHE_ENTRIES = 10_000

Connection = ASGIConnection[Any, Any, Any, Any]
LookUp = Callable[[str], Awaitable[ApiKey | None]]


def requires(scope: Scope) -> dict[str, Scope]:
    """A route's `opt`: the scope a key needs to call it."""
    return {SCOPE_OPT: scope}


class KeyCache:
    """Recently verified keys, kept by the SHA-256 of the presented key."""

    def __init__(
        self,
        ttl_seconds: float = KEY_CACHE_SECONDS,
        max_entries: int = KEY_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, ApiKey]] = OrderedDict()
        # Keys this process verified, kept past their entry (expired or forgotten on a change
        # heard of) until a lookup refuses them: the rate limit counts these without a lookup, so
        # a cache emptied on a listener's reconnect grants no free request.
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        # Bumped by every change heard of: a lookup that overlapped one may have read the key
        # before the change committed, so its answer serves that request but is not kept.
        self._changes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def known(self, presented: str) -> bool:
        """Whether this process verified this exact key, however long ago; never asks the database.

        Enough to count a request against the key's id (the secret matched once), not to let it
        in: `key_for` still looks the key up again after the TTL, and a key heard of as changed
        is forgotten at once.
        """
        return hashlib.sha256(presented.encode()).digest() in self._verified

    async def key_for(self, presented: str, look_up: LookUp) -> ApiKey | None:
        digest = hashlib.sha256(presented.encode()).digest()
        cached = self._entries.get(digest)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        changes = self._changes
        key = await look_up(presented)
        if key is None:
            self._entries.pop(digest, None)
            self._verified.pop(digest, None)
            return None
        if changes == self._changes:
            self._entries[digest] = (now + self._ttl, key)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        self._verified[digest] = None
        self._verified.move_to_end(digest)
        while len(self._verified) > self._max_entries:
            self._verified.popitem(last=False)
        return key

    def forget(self, key_id: str) -> None:
        """Verify this key against the database again on its next use."""
        self._changes += 1
        for digest in [d for d, (_, key) in self._entries.items() if key.key_id == key_id]:
            del self._entries[digest]

    def forget_all(self) -> None:
        self._changes += 1
        self._entries.clear()


def insufficient_scope(needed: Scope, key: ApiKey) -> Problem:
    accepted = "`admin`" if needed == "admin" else f"`{needed}` or `admin`"
    problem = Problem(
        403,
        "insufficient-scope",
        "The API key's scope does not allow this",
        f"This request needs an API key with scope {accepted}; key {key.key_id} has `{key.scope}`.",
        required_scope=needed,
        key_scope=key.scope,
    )
    problem.headers = {
        "WWW-Authenticate": f'Bearer realm="mastery", error="insufficient_scope", scope="{needed}"'
    }
    return problem


def key_guard(pool_of: Callable[[Connection], asyncpg.Pool], cache: KeyCache) -> Guard:
    """The guard of every app: authenticate and authorize routes that declare a scope."""

    async def authorize(connection: Connection, handler: BaseRouteHandler) -> None:
        needed: Scope | None = handler.opt.get(SCOPE_OPT)
        if needed is None:
            return
        scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise NotAuthorizedException("Send an API key as `Authorization: Bearer <key>`.")
        pool = pool_of(connection)

        async def look_up(candidate: str) -> ApiKey | None:
            return await key_for(pool, candidate)

        key = await cache.key_for(presented.strip(), look_up)
        if key is None:
            raise NotAuthorizedException("The API key is unknown or revoked.")
        if not grants(key.scope, needed):
            raise insufficient_scope(needed, key)
        connection.scope["auth"] = key

    return authorize


def request_key(request: Request[Any, Any, Any]) -> ApiKey:
    """The verified API key of a request to a route that declares a scope.

    The hot write routes read it here rather than through the `tenant` and `actor` dependencies:
    Litestar resolves several dependencies of one handler in a task group, a task each, which
    costs more than the request's own decision."""
    return _key_of(request)


def _key_of(request: Request[Any, Any, Any]) -> ApiKey:
    key = request.scope.get("auth")
    if not isinstance(key, ApiKey):
        raise TypeError(
            f"{request.method} {request.url.path}: the route declares no scope, so it has no "
            "API key: give it opt=requires(<scope>)"
        )
    return key


def authenticated_tenant(request: Request[Any, Any, Any]) -> str:
    """The `tenant` dependency: the tenant of the request's key."""
    return _key_of(request).tenant_id


def authenticated_actor(request: Request[Any, Any, Any]) -> Actor:
    """The `actor` dependency: who writes, as the events record it."""
    return _key_of(request).actor
