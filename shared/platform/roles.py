"""The database roles: an owner that migrates, and one login role per service.

`mastery db roles` (and `mastery dev`, and the test fixtures) run `ensure_roles` with an admin URL
(a superuser, or a role with CREATEROLE that may grant on the database and its `public` schema).
It creates the roles if missing, sets their passwords from the environment when given, lets the
owner create in `public` and nobody else, and refuses roles that carry more power than they need.
The `010` migrations, run as the owner, grant each service role what its code runs and turn on
row-level security; the names below are the ones they grant to.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from shared.platform.postgres import DbConnection, MigrationSet, apply_migrations

OWNER = "gradebook_owner"
SERVICE_ROLES = {
    "attempts": "gradebook_attempts",
    "mastery": "gradebook_mastery",
    "notify": "gradebook_notify",
}
ROLES = (OWNER, *SERVICE_ROLES.values())
# Serialises two bootstraps of one cluster (roles are cluster-wide; CREATE ROLE races).
_ROLES_LOCK_KEY = 7_310_002
# Attributes none of these roles may have: each would let it step around the grants or the wall.
_POWERS = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")
_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def password_variable(role: str) -> str:
    """The environment variable holding a role's password, e.g. GRADEBOOK_MASTERY_PASSWORD."""
    return f"{role.upper()}_PASSWORD"


def passwords_from(environ: Mapping[str, str]) -> dict[str, str]:
    return {role: environ[name] for role in ROLES if (name := password_variable(role)) in environ}


class RolePowerError(Exception):
    """A role of ours exists with powers it must not have."""


@dataclass(frozen=True, slots=True)
class RoleUrls:
    owner: str
    services: dict[str, str]  # by service name


def role_url(url: str, role: str, password: str | None) -> str:
    """`url` with its user (and password) replaced by the role's."""
    parts = urlsplit(url)
    user = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))


def role_urls(url: str, passwords: Mapping[str, str]) -> RoleUrls:
    return RoleUrls(
        owner=role_url(url, OWNER, passwords.get(OWNER)),
        services={
            name: role_url(url, role, passwords.get(role)) for name, role in SERVICE_ROLES.items()
        },
    )


async def ensure_roles(admin_url: str, passwords: Mapping[str, str]) -> list[str]:
    """Create the roles that are missing and prepare the URL's database; returns what was done."""
    done: list[str] = []
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _ROLES_LOCK_KEY)
        for role in ROLES:
            done.append(await _ensure_role(connection, role, passwords.get(role)))
        await _grant_database(connection)
    finally:
        await connection.close()
    return done


async def prepare_database(
    admin_url: str, passwords: Mapping[str, str], migration_sets: Sequence[MigrationSet]
) -> RoleUrls:
    """Roles, then every migration applied as the owner: what `mastery dev` and the tests do."""
    await ensure_roles(admin_url, passwords)
    urls = role_urls(admin_url, passwords)
    await apply_migrations(urls.owner, migration_sets)
    return urls


async def _ensure_role(connection: DbConnection, role: str, password: str | None) -> str:
    found = await connection.fetchrow(
        f"SELECT {', '.join(_POWERS)} FROM pg_roles WHERE rolname = $1",  # noqa: S608
        role,
    )
    if found is None:
        await _run_formatted(connection, f"CREATE ROLE %I {_ATTRIBUTES}", role)
        outcome = f"created role {role}"
    elif powers := [name for name in _POWERS if found[name]]:
        raise RolePowerError(f"role {role} exists with {', '.join(powers)}: take them away first")
    else:
        outcome = f"role {role} exists"
    if password is not None:
        await _run_formatted(connection, "ALTER ROLE %I PASSWORD %L", role, password)
        outcome += ", password set"
    return outcome


async def _grant_database(connection: DbConnection) -> None:
    """In the URL's database: the owner creates the tables, services use what it grants them.

    Revoking CREATE from PUBLIC matters before PostgreSQL 15, where every role could create
    tables in `public` (and so own one).
    """
    for statement in (
        "GRANT CONNECT ON DATABASE %I TO " + ", ".join(ROLES),
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE, CREATE ON SCHEMA public TO {OWNER}",
        "GRANT USAGE ON SCHEMA public TO " + ", ".join(SERVICE_ROLES.values()),
    ):
        if "%I" in statement:
            await _run_formatted(connection, statement, await _database(connection))
        else:
            await connection.execute(statement)


async def _database(connection: DbConnection) -> str:
    name: str = await connection.fetchval("SELECT current_database()")
    return name


async def _run_formatted(connection: DbConnection, template: str, *values: str) -> None:
    """Run a statement whose identifiers and literals PostgreSQL's own `format` quotes."""
    placeholders = ", ".join(f"${n}::text" for n in range(1, len(values) + 1))
    statement: str = await connection.fetchval(
        f"SELECT format('{template}', {placeholders})", *values
    )
    await connection.execute(statement)
