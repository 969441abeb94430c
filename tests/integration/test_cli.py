"""`mastery migrate`, `mastery tenants create` and `mastery keys create` against real PostgreSQL."""

import asyncio
import uuid

import asyncpg
import pytest

from services.cli import main
from shared.platform.tenancy import tenant_for_key


def test_cli_creates_a_tenant_and_a_working_key(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = f"district-{uuid.uuid4().hex[:6]}"
    assert main(["migrate", "--database-url", database_url]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (
        main(
            [
                "tenants",
                "create",
                tenant,
                "--name",
                "North District",
                "--database-url",
                database_url,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "keys",
                "create",
                "--tenant",
                tenant,
                "--scope",
                "admin",
                "--database-url",
                database_url,
            ]
        )
        == 0
    )
    key = capsys.readouterr().out.strip().splitlines()[-1].removeprefix("API key: ")
    assert asyncio.run(_tenant_of(database_url, key)) == tenant
    stored = asyncio.run(_stored_secrets(database_url))
    assert key.split("_", 2)[2].encode() not in stored  # only a digest is kept


def test_keys_for_an_unknown_tenant_are_refused(database_url: str) -> None:
    with pytest.raises(SystemExit, match="no tenant"):
        main(
            [
                "keys",
                "create",
                "--tenant",
                "nobody",
                "--scope",
                "read",
                "--database-url",
                database_url,
            ]
        )


async def _tenant_of(database_url: str, key: str) -> str | None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        return await tenant_for_key(pool, key)
    finally:
        await pool.close()


async def _stored_secrets(database_url: str) -> bytes:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT secret_sha256 FROM api_keys")
    finally:
        await connection.close()
    return b"".join(bytes(row["secret_sha256"]) for row in rows)
