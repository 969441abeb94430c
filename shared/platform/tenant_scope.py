"""The tenant a pooled connection may see: the second wall behind every query's tenant filter.

Row-level security on each tenant-scoped table (the `010` migrations) lets a service role see and
write only rows whose `tenant_id` equals the session setting `app.tenant_id`, or every row when it
is `*`. Two kinds of pool set it:

- a request pool (`create_pool`): a connection takes the tenant its borrower names with
  `tenant_connection(pool, tenant)`. The setting is per session and remembered per connection, so
  naming the tenant the connection already has costs nothing, and another costs one round trip
  (`set_config`, a prepared statement). Borrowing it any other way (`pool.fetch`, `acquire`)
  names no tenant and clears it: a query that forgets both its filter and its tenant sees nothing.
- a worker pool (`create_pool(..., all_tenants=True)`): its connections are opened with
  `app.tenant_id = *` as a startup parameter (no round trip, ever), for relays, the projector,
  the planner and the mailer, which serve every tenant. Only the composition root hands it out.

The setting is per session rather than per transaction because the ingest path runs without a
transaction (two statements, see `in_retried_statements`): a transaction-local setting there would
add BEGIN and COMMIT, two round trips per request.
"""

import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any, cast

import asyncpg
from asyncpg.pool import PoolConnectionProxy

TENANT_SETTING = "app.tenant_id"
ALL_TENANTS = "*"
NO_TENANT = ""

# The tenant the current `tenant_connection` asks for, read by the pool's setup hook while it
# acquires. Set and reset around one `acquire()` in one task, so it never leaks to another borrow.
_asked: ContextVar[str] = ContextVar("asked_tenant", default=NO_TENANT)

_SET_TENANT = f"SELECT set_config('{TENANT_SETTING}', $1, false)"
# What a connection remembers while its setting is in doubt (a set_config that failed).
_UNKNOWN = "\0unknown"


class ScopedConnection(asyncpg.Connection):
    """A connection that remembers the tenant its session is set to."""

    __slots__ = ("_tenant",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tenant = NO_TENANT

    async def enter_tenant(self, tenant_id: str) -> None:
        if tenant_id != self._tenant:
            self._tenant = _UNKNOWN  # if this fails, the next borrower sets it again
            await self.execute(_SET_TENANT, tenant_id)
            self._tenant = tenant_id


async def enter_asked_tenant(connection: "PoolConnectionProxy[Any]") -> None:
    """The request pool's setup hook: runs on every borrow, before the borrower's first query."""
    # The proxy forwards attribute access to the pool's connection, a ScopedConnection.
    await cast("ScopedConnection", connection).enter_tenant(_asked.get())


@contextlib.asynccontextmanager
async def tenant_connection(
    pool: asyncpg.Pool, tenant_id: str
) -> AsyncIterator["PoolConnectionProxy[asyncpg.Record]"]:
    """A connection of `pool` that sees only `tenant_id`'s rows (on a request pool)."""
    if tenant_id in (NO_TENANT, ALL_TENANTS):
        raise ValueError(f"not a tenant: {tenant_id!r}")
    asked = _asked.set(tenant_id)
    try:
        connection: PoolConnectionProxy[asyncpg.Record] = await pool.acquire()
    finally:
        _asked.reset(asked)
    try:
        yield connection
    finally:
        await pool.release(connection)
