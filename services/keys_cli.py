"""`mastery keys`: issue, list, revoke and rotate a tenant's API keys.

A key's secret is printed once, when it is issued; only its digest is stored, so no command can
show it again. A revocation commits with the trigger that tells every running service to drop the
key from its cache (`shared/platform/key_listener.py`).
"""

import argparse
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

import asyncpg

from shared.platform.postgres import DbConnection
from shared.platform.tenancy import (
    SCOPES,
    IssuedKey,
    KeyListing,
    KeyNotFound,
    KeyRevoked,
    Scope,
    issue_api_key,
    keys_of,
    revoke_key,
    rotate_key,
)


def add_key_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="issue an API key for a tenant; prints it once")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--scope",
        required=True,
        choices=SCOPES,
        help="ingest: write evidence; read: read; admin: both, and standards, policy, guardians",
    )
    create.add_argument("--label", default="", help="who or what uses the key (shown in history)")
    listing = keys.add_parser("list", help="a tenant's keys (never their secrets)")
    listing.add_argument("--tenant", required=True)
    for action, text in (
        ("revoke", "revoke a key; every service refuses it within a second"),
        ("rotate", "issue a new key like this one (tenant, scope, label) and revoke this one"),
    ):
        command = keys.add_parser(action, help=text)
        command.add_argument("key_id", metavar="KEY_ID")
    for command in keys.choices.values():
        command.add_argument("--database-url")


def key_command(url: str, args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    if args.action == "create":
        return _connected(url, lambda c: _create(c, args.tenant, args.scope, args.label))
    if args.action == "list":
        return _connected(url, lambda c: _list(c, args.tenant))
    if args.action == "revoke":
        return _connected(url, lambda c: _revoke(c, args.key_id))
    return _connected(url, lambda c: _rotate(c, args.key_id))


async def _connected(url: str, command: Callable[[DbConnection], Awaitable[None]]) -> None:
    connection = await asyncpg.connect(url)
    try:
        await command(connection)
    finally:
        await connection.close()


async def _require_tenant(connection: DbConnection, tenant_id: str) -> None:
    if not await connection.fetchval("SELECT 1 FROM tenants WHERE tenant_id = $1", tenant_id):
        raise SystemExit(f"no tenant {tenant_id!r}: create it with `mastery tenants create`")


async def _create(connection: DbConnection, tenant_id: str, scope: Scope, label: str) -> None:
    await _require_tenant(connection, tenant_id)
    _print_issued(await issue_api_key(connection, tenant_id, label, scope=scope))


async def _list(connection: DbConnection, tenant_id: str) -> None:
    await _require_tenant(connection, tenant_id)
    listed = await keys_of(connection, tenant_id)
    print(f"{'KEY ID':<14}{'SCOPE':<8}{'CREATED':<27}{'REVOKED':<27}LABEL")
    for key in listed:
        print(_listing_line(key))


def _listing_line(key: KeyListing) -> str:
    revoked = _when(key.revoked_at) if key.revoked_at else "-"
    return f"{key.key_id:<14}{key.scope:<8}{_when(key.created_at):<27}{revoked:<27}{key.label}"


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


async def _revoke(connection: DbConnection, key_id: str) -> None:
    try:
        revoked_at = await revoke_key(connection, key_id)
    except KeyNotFound:
        raise SystemExit(f"no key {key_id!r}") from None
    print(f"key {key_id} revoked at {_when(revoked_at)}")


async def _rotate(connection: DbConnection, key_id: str) -> None:
    try:
        issued = await rotate_key(connection, key_id)
    except KeyNotFound:
        raise SystemExit(f"no key {key_id!r}") from None
    except KeyRevoked:
        raise SystemExit(
            f"key {key_id!r} is revoked already: issue a new one with `mastery keys create`"
        ) from None
    print(f"key {key_id} revoked; replaced by:")
    _print_issued(issued)


def _print_issued(key: IssuedKey) -> None:
    label = f", label {key.label!r}" if key.label else ""
    print(f"key {key.key_id} for tenant {key.tenant_id}, scope {key.scope}{label}")
    print(f"API key: {key.plaintext}")
    print("Store it now: only its hash is kept.", file=sys.stderr)
