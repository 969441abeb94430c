"""Tenants and API keys: a key maps its bearer to exactly one tenant, with one scope.

Keys look like `mk_<key id>_<secret>`. The secret is 256 random bits, so a plain SHA-256 digest is
a sound way to store it (slow password hashes protect low-entropy secrets, which these are not).

Scopes: `ingest` writes evidence (attempts, markers, corrections, corrective work), `read` reads
(mastery, history, the calculator, standards, the policy, guardians, failed emails), `admin` does
both and manages what the other two use (standards, the tenant policy, guardians). A key has one
scope; `admin` grants every other. Keys are managed with `mastery keys`, not over HTTP.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import asyncpg
import msgspec

from shared.contract.actor import Actor
from shared.contract.ids import is_valid_tenant_id
from shared.platform.postgres import DbConnection

KEY_PREFIX = "mk"

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)


def grants(held: Scope, needed: Scope) -> bool:
    """Whether a key with scope `held` may do what needs `needed`."""
    return held in (needed, "admin")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: str
    tenant_id: str
    scope: Scope
    label: str
    plaintext: str


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A verified key: whose it is and what it may do. Never holds the secret."""

    key_id: str
    tenant_id: str
    scope: Scope
    label: str

    @property
    def actor(self) -> Actor:
        return Actor(key_id=self.key_id, label=self.label)


class KeyListing(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    label: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None


class KeyNotFound(Exception):
    """No key has this id."""


class KeyRevoked(Exception):
    """The key was revoked already; it cannot be rotated."""


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


async def issue_api_key(
    connection: DbConnection, tenant_id: str, label: str = "", *, scope: Scope
) -> IssuedKey:
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r} must be one of {', '.join(SCOPES)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    await connection.execute(
        "INSERT INTO api_keys (key_id, tenant_id, secret_sha256, label, scope) "
        "VALUES ($1, $2, $3, $4, $5)",
        key_id,
        tenant_id,
        _digest(secret),
        label,
        scope,
    )
    return IssuedKey(key_id, tenant_id, scope, label, f"{KEY_PREFIX}_{key_id}_{secret}")


async def key_for(pool: asyncpg.Pool, presented: str) -> ApiKey | None:
    """The key presented, or None for an unknown, malformed or revoked one."""
    parsed = parse_key(presented)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = await pool.fetchrow(
        "SELECT tenant_id, scope, label, secret_sha256 FROM api_keys "
        "WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), _digest(secret)):
        return None
    return ApiKey(key_id=key_id, tenant_id=row["tenant_id"], scope=row["scope"], label=row["label"])


async def tenant_for_key(pool: asyncpg.Pool, presented: str) -> str | None:
    """The tenant a key belongs to, or None for an unknown, malformed or revoked key."""
    key = await key_for(pool, presented)
    return key.tenant_id if key else None


async def keys_of(connection: DbConnection, tenant_id: str) -> list[KeyListing]:
    """The tenant's keys, oldest first, revoked ones included."""
    rows = await connection.fetch(
        "SELECT key_id, label, scope, created_at, revoked_at FROM api_keys "
        "WHERE tenant_id = $1 ORDER BY created_at, key_id",
        tenant_id,
    )
    return [KeyListing(**dict(row)) for row in rows]


async def revoke_key(connection: DbConnection, key_id: str) -> datetime:
    """Revoke a key (its trigger tells every service at commit); when it was revoked.

    Revoking a revoked key changes nothing and answers when it was revoked first.
    """
    revoked_at: datetime | None = await connection.fetchval(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 "
        "RETURNING revoked_at",
        key_id,
    )
    if revoked_at is None:
        raise KeyNotFound(key_id)
    return revoked_at


async def rotate_key(connection: DbConnection, key_id: str) -> IssuedKey:
    """A new key with the old one's tenant, scope and label, the old one revoked, in one
    transaction."""
    async with connection.transaction():
        row = await connection.fetchrow(
            "SELECT tenant_id, scope, label, revoked_at FROM api_keys WHERE key_id = $1 FOR UPDATE",
            key_id,
        )
        if row is None:
            raise KeyNotFound(key_id)
        if row["revoked_at"] is not None:
            raise KeyRevoked(key_id)
        issued = await issue_api_key(connection, row["tenant_id"], row["label"], scope=row["scope"])
        await revoke_key(connection, key_id)
    return issued
