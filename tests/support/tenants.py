import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec

from services.attempts.adapters.standards_store import Saved, StandardsStore
from services.attempts.core.standards import DefineStandard
from shared.contract.grading import DEFAULT_SCALE
from shared.platform.bus import BusNames
from shared.platform.tenancy import Scope, create_tenant, issue_api_key


async def new_tenant(pool: asyncpg.Pool, prefix: str = "school") -> tuple[str, dict[str, str]]:
    """A fresh tenant and the Authorization header of a key issued to it."""
    tenant_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as connection:
        await create_tenant(connection, tenant_id, f"{prefix} {tenant_id}")
        key = await issue_api_key(connection, tenant_id, scope="admin")
    return tenant_id, {"Authorization": f"Bearer {key.plaintext}"}


async def new_key(
    pool: asyncpg.Pool, tenant_id: str, scope: Scope, label: str = ""
) -> tuple[str, dict[str, str]]:
    """Another key of the tenant: its id and its Authorization header."""
    async with pool.acquire() as connection:
        key = await issue_api_key(connection, tenant_id, label, scope=scope)
    return key.key_id, {"Authorization": f"Bearer {key.plaintext}"}


async def define_standard(
    pool: asyncpg.Pool,
    bus: BusNames,
    tenant_id: str,
    standard_id: str = "math.fractions",
    **changes: object,
) -> None:
    """Define a standard (1-4 scale, `latest` unless changed) the way PUT /v1/standards does."""
    command = DefineStandard(
        tenant_id=tenant_id, standard_id=standard_id, title=standard_id, scale=DEFAULT_SCALE
    )
    store = StandardsStore(pool)
    saved = await store.define(msgspec.structs.replace(command, **changes), now=datetime.now(UTC))
    assert isinstance(saved, Saved), saved


def attempt_events_sql(select: str = "count(*)") -> str:
    """Rows of student streams only: standards live in the same store under `<tenant>//...`."""
    return f"SELECT {select} FROM attempt_events WHERE stream_id NOT LIKE '%//%'"
