"""Shadow tables: the read model built beside the live one, then swapped in by renames.

A shadow is created `LIKE` its live table (columns, defaults, constraints, indexes), and given
what `LIKE` does not copy: the live table's grants and row-level security with its policies, read
from the catalog, so a migration that changes them needs no change here. Creating, dropping and
renaming tables takes the tables' owner: `mastery rebuild` runs as the owner role.
"""

import asyncio

import asyncpg

from services.mastery.adapters.replay import Tables
from shared.platform.postgres import DbConnection

LIVE = Tables(evidence="mastery_evidence", proficiencies="proficiencies")
SHADOW = Tables(evidence="mastery_evidence_shadow", proficiencies="proficiencies_shadow")
SWAP_LOCK_TIMEOUT = "200ms"  # the longest a try to swap makes reads wait
SWAP_LOCK_TRIES = 600
_PAIRS = ((LIVE.proficiencies, SHADOW.proficiencies), (LIVE.evidence, SHADOW.evidence))

# Each statement that recreates a grant or a policy of table $1 on table $2.
_GRANTS = """
SELECT format('GRANT %s ON %I TO %s', a.privilege_type, $2::text,
              CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = $1::regclass AND a.grantee <> c.relowner
"""
_POLICIES = """
SELECT format('CREATE POLICY %I ON %I AS %s FOR %s TO %s', p.policyname, $2::text, p.permissive,
              p.cmd, (SELECT string_agg(CASE r WHEN 'public' THEN 'PUBLIC' ELSE quote_ident(r) END,
                                        ', ') FROM unnest(p.roles) AS r))
       || coalesce(' USING (' || p.qual || ')', '')
       || coalesce(' WITH CHECK (' || p.with_check || ')', '')
FROM pg_policies p WHERE p.schemaname = current_schema() AND p.tablename = $1
"""
# The live table's owner, so a rebuild run by a superuser leaves no table owned by another role.
_OWNER_AND_ROW_SECURITY = """
SELECT format('ALTER TABLE %I OWNER TO %s', $2::text, relowner::regrole::text),
       CASE WHEN relrowsecurity
            THEN format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', $2::text) END,
       CASE WHEN relforcerowsecurity
            THEN format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', $2::text) END
FROM pg_class WHERE oid = $1::regclass
"""
# An index by what it is, not by its name: a shadow's indexes get names of their own.
_INDEXES = """
SELECT indexrelid::regclass::text AS name, quote_ident(c.relname) AS bare,
       indisunique::text || indisprimary::text
           || split_part(pg_get_indexdef(indexrelid), ' USING ', 2) AS definition
FROM pg_index JOIN pg_class c ON c.oid = indexrelid WHERE indrelid = $1::regclass
"""


async def create_shadows(connection: DbConnection) -> None:
    """Empty shadows of the read model's tables, walled and granted as the live ones are."""
    for live, shadow in _PAIRS:
        await connection.execute(f"DROP TABLE IF EXISTS {shadow}")
        await connection.execute(f"CREATE TABLE {shadow} (LIKE {live} INCLUDING ALL)")
        statements = [
            s for s in await connection.fetchrow(_OWNER_AND_ROW_SECURITY, live, shadow) or () if s
        ]
        statements += [row[0] for row in await connection.fetch(_GRANTS, live, shadow)]
        statements += [row[0] for row in await connection.fetch(_POLICIES, live, shadow)]
        for statement in statements:
            await connection.execute(statement)


async def swap_in(connection: DbConnection) -> None:
    """Drop the live tables and rename their shadows in, indexes taking the live ones' names.

    Reads wait from here until the transaction commits: the renames need the live tables
    exclusively. A read that was waiting looks the name up again and reads the new table."""
    await _lock_exclusively(connection)
    for live, shadow in _PAIRS:
        names = {row["definition"]: row["bare"] for row in await connection.fetch(_INDEXES, live)}
        renamed = await connection.fetch(_INDEXES, shadow)
        await connection.execute(f"DROP TABLE {live}")
        await connection.execute(f"ALTER TABLE {shadow} RENAME TO {live}")
        for row in renamed:
            wanted = names.get(row["definition"])
            if wanted is not None and wanted != row["bare"]:
                await connection.execute(f"ALTER INDEX {row['name']} RENAME TO {wanted}")


async def _lock_exclusively(connection: DbConnection) -> None:
    """ACCESS EXCLUSIVE on the live tables, waiting at most `SWAP_LOCK_TIMEOUT` a try.

    While a lock request waits, every read that comes after it queues behind it: a long read
    transaction would otherwise hold all reads for its whole length. Giving up and trying again
    lets the queued reads through in between."""
    for attempt in range(1, SWAP_LOCK_TRIES + 1):
        try:
            async with connection.transaction():
                await connection.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                await connection.execute(
                    f"LOCK TABLE {LIVE.proficiencies}, {LIVE.evidence} IN ACCESS EXCLUSIVE MODE"
                )
                await connection.execute("SET LOCAL lock_timeout = 0")
        except asyncpg.LockNotAvailableError:
            await asyncio.sleep(min(0.05 * attempt, 1.0))
            continue
        return
    raise RuntimeError(
        f"a read held the read model through {SWAP_LOCK_TRIES} tries to swap the rebuilt one in"
    )
