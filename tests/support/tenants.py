import uuid

import asyncpg

from shared.tenancy import create_tenant, issue_api_key


async def new_tenant(pool: asyncpg.Pool, prefix: str = "school") -> tuple[str, dict[str, str]]:
    """A fresh tenant and the Authorization header of a key issued to it."""
    tenant_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as connection:
        await create_tenant(connection, tenant_id, f"{prefix} {tenant_id}")
        key = await issue_api_key(connection, tenant_id)
    return tenant_id, {"Authorization": f"Bearer {key.plaintext}"}
