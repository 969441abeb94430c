"""PostgreSQL helpers: connection pools and numbered, idempotent SQL migrations."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.platform.tenant_scope import (
    ALL_TENANTS,
    TENANT_SETTING,
    ScopedConnection,
    enter_asked_tenant,
)

# What a function that runs SQL accepts: a plain connection or one borrowed from a pool.
DbConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# Serialises concurrent `migrate` runs (several services starting at once).
_MIGRATION_LOCK_KEY = 7_310_001


@dataclass(frozen=True, slots=True)
class MigrationSet:
    """The numbered SQL files of one component (a service, or the shared tenancy tables)."""

    component: str
    package: str

    def files(self) -> list[tuple[int, str, Traversable]]:
        found = []
        for entry in resources.files(self.package).iterdir():
            match = _MIGRATION_NAME.match(entry.name)
            if match:
                found.append((int(match.group(1)), entry.name, entry))
        return sorted(found, key=lambda item: item[0])


SHARED_MIGRATIONS = MigrationSet("shared", "shared.platform.migrations")


async def keep_session(connection: "asyncpg.Connection[asyncpg.Record]") -> None:
    """Release a connection without asyncpg's default reset query.

    The default (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) costs a round
    trip on every release: about 13 % of the attempts service's time per request. Our code leaves
    no session state behind but the tenant setting, which the next borrower's setup hook sets
    (`tenant_scope.py`): no SET, cursors only inside transactions (asyncpg still rolls back a
    transaction left open, without a round trip when there is none). The one session-level lock,
    the relay's leader lock, is released by the relay itself, and the LISTENs of the relay and
    the mailer (`wake.py`) are removed by their owners before they give the connection back.
    """


# A server that drops packets instead of refusing them must not hold a request for asyncpg's
# default 60 s before it answers 503.
CONNECT_TIMEOUT_SECONDS = 5.0


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, all_tenants: bool = False
) -> asyncpg.Pool:
    """A request pool, whose borrowers name their tenant (`tenant_connection`), or with
    `all_tenants` a worker pool that sees every tenant (see `shared/platform/tenant_scope.py`)."""
    scoping: dict[str, Any] = (
        {"server_settings": {TENANT_SETTING: ALL_TENANTS}}
        if all_tenants
        else {"connection_class": ScopedConnection, "setup": enter_asked_tenant}
    )
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        reset=keep_session,
        timeout=CONNECT_TIMEOUT_SECONDS,
        **scoping,
    )
    assert pool is not None
    return pool


async def apply_migrations(dsn: str, migration_sets: Sequence[MigrationSet]) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied by this call."""
    applied: list[str] = []
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
        await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                component text NOT NULL,
                version integer NOT NULL,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version)
            )
            """
        )
        for migration_set in migration_sets:
            applied += await _apply_set(connection, migration_set)
    finally:
        await connection.close()
    return applied


async def _apply_set(connection: DbConnection, migration_set: MigrationSet) -> list[str]:
    rows = await connection.fetch(
        "SELECT version FROM schema_migrations WHERE component = $1", migration_set.component
    )
    done = {row["version"] for row in rows}
    applied = []
    for version, name, entry in migration_set.files():
        if version in done:
            continue
        async with connection.transaction():
            await connection.execute(entry.read_text(encoding="utf-8"))
            await connection.execute(
                "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                migration_set.component,
                version,
                name,
            )
        applied.append(f"{migration_set.component}/{name}")
    return applied
