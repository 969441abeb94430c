"""Tenants and API keys: a key maps its bearer to exactly one tenant.

Keys look like `mk_<key id>_<secret>`. The secret is 256 random bits, so a plain SHA-256 digest is
a sound way to store it (slow password hashes protect low-entropy secrets, which these are not).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg

from shared.contract.ids import is_valid_tenant_id
from shared.platform.postgres import DbConnection

KEY_PREFIX = "mk"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: str
    tenant_id: str
    plaintext: str


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_key(presented: str) -> tuple[str, str] | None:
    """Split a presented key into (key id, secret); None when it is not shaped like a key."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not key_id or not secret:
        return None
    return key_id, secret


async def create_tenant(connection: DbConnection, tenant_id: str, name: str) -> bool:
    """Create the tenant if it does not exist; True when it was created now."""
    if not is_valid_tenant_id(tenant_id):
        raise ValueError(
            f"tenant id {tenant_id!r} must be 1-63 lower-case letters, digits, '-' or '_'"
        )
    status = await connection.execute(
        "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        tenant_id,
        name,
    )
    return bool(status == "INSERT 0 1")


async def issue_api_key(connection: DbConnection, tenant_id: str, label: str = "") -> IssuedKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    await connection.execute(
        "INSERT INTO api_keys (key_id, tenant_id, secret_sha256, label) VALUES ($1, $2, $3, $4)",
        key_id,
        tenant_id,
        _digest(secret),
        label,
    )
    return IssuedKey(key_id, tenant_id, f"{KEY_PREFIX}_{key_id}_{secret}")


async def tenant_for_key(pool: asyncpg.Pool, presented: str) -> str | None:
    """The tenant a key belongs to, or None for an unknown, malformed or revoked key."""
    parsed = parse_key(presented)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = await pool.fetchrow(
        "SELECT tenant_id, secret_sha256 FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), _digest(secret)):
        return None
    tenant_id: str = row["tenant_id"]
    return tenant_id
