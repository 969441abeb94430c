"""The roster log and its projection in PostgreSQL: load what is on record, append changes.

One transaction per command: the tenant's roster is locked (an advisory lock), read, the pure
core decides the changes, and the log rows and the projection are written together, so an import
lands whole or not at all. Rows travel as one JSON document per statement (`json_to_recordset`),
not one statement per row.
"""

from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec

from services.mastery.core.roster import Key, OnRecord, key_of
from shared.contract.events.roster import (
    ClassDefined,
    Defined,
    EnrollmentDefined,
    OrgDefined,
    PersonDefined,
    RosterChange,
    RosterRemoved,
    TermDefined,
)
from shared.platform.postgres import DbConnection

TABLES: dict[str, tuple[str, type[Defined]]] = {
    "org": ("roster_orgs", OrgDefined),
    "term": ("roster_terms", TermDefined),
    "class": ("roster_classes", ClassDefined),
    "person": ("roster_people", PersonDefined),
    "enrollment": ("roster_enrollments", EnrollmentDefined),
}
ROSTER_LOCKS = 0x524F53  # the class (first int4 key) of the roster's advisory locks
_encoder = msgspec.json.Encoder()

Decide = Callable[[OnRecord], list[RosterChange]]


class LogRow(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    number: int
    event_type: str
    data: msgspec.Raw
    recorded_at: datetime


class EntityRow(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    entity_id: str
    data: msgspec.Raw


async def record_changes(
    connection: DbConnection, tenant_id: str, decide: Decide, now: datetime, kinds: Sequence[str]
) -> list[RosterChange]:
    """Decide against the roster on record (of `kinds`) and record the changes, in one
    transaction; the changes recorded are returned."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))",
                                 ROSTER_LOCKS, tenant_id)  # fmt: skip
        changes = decide(await on_record(connection, tenant_id, kinds))
        if changes:
            await _append(connection, tenant_id, changes, now)
            await _project(connection, changes)
    return changes


async def on_record(connection: DbConnection, tenant_id: str, kinds: Sequence[str]) -> OnRecord:
    found: dict[Key, Defined] = {}
    for kind in kinds:
        table, kind_type = TABLES[kind]
        rows = await connection.fetch(
            f"SELECT data::text FROM {table} WHERE tenant_id = $1",  # noqa: S608 - constant
            tenant_id,
        )
        for row in rows:
            entity = msgspec.json.decode(row["data"], type=kind_type)
            found[key_of(entity)] = entity
    return found


async def _append(
    connection: DbConnection, tenant_id: str, changes: list[RosterChange], now: datetime
) -> None:
    last = await connection.fetchval(
        "SELECT coalesce(max(number), 0) FROM roster_log WHERE tenant_id = $1", tenant_id
    )
    rows = [
        LogRow(
            tenant_id=tenant_id,
            number=last + n,
            event_type=_type_tag(change),
            data=msgspec.Raw(_encoder.encode(change)),
            recorded_at=now,
        )
        for n, change in enumerate(changes, start=1)
    ]
    await connection.execute(
        "INSERT INTO roster_log (tenant_id, number, event_type, data, recorded_at) "
        "SELECT * FROM json_to_recordset($1::json) AS r(tenant_id text, number bigint, "
        "event_type text, data jsonb, recorded_at timestamptz)",
        _encoder.encode(rows).decode(),
    )


def _type_tag(change: RosterChange) -> str:
    return str(type(change).__struct_config__.tag)


async def _project(connection: DbConnection, changes: list[RosterChange]) -> None:
    # A change never both defines and removes one entity (core/roster.py), so upserts, then
    # removals, is the log's order.
    upserts: dict[str, list[EntityRow]] = {}
    removals: dict[str, list[tuple[str, str]]] = {}
    for change in changes:
        if isinstance(change, RosterRemoved):
            removals.setdefault(TABLES[change.kind][0], []).append(
                (change.tenant_id, change.entity_id)
            )
            continue
        kind, entity = key_of(change)
        row = EntityRow(
            tenant_id=change.tenant_id, entity_id=entity, data=msgspec.Raw(_encoder.encode(change))
        )
        upserts.setdefault(TABLES[kind][0], []).append(row)
    for table, rows in upserts.items():
        await connection.execute(
            f"INSERT INTO {table} (tenant_id, entity_id, data) "  # noqa: S608 - constant
            "SELECT DISTINCT ON (tenant_id, entity_id) tenant_id, entity_id, data "
            "FROM ROWS FROM (json_to_recordset($1::json) "
            "AS (tenant_id text, entity_id text, data jsonb)) "
            "WITH ORDINALITY AS r(tenant_id, entity_id, data, n) "
            "ORDER BY tenant_id, entity_id, n DESC "
            "ON CONFLICT (tenant_id, entity_id) DO UPDATE SET data = EXCLUDED.data",
            _encoder.encode(rows).decode(),
        )
    for table, keys in removals.items():
        await connection.execute(
            f"DELETE FROM {table} WHERE (tenant_id, entity_id) IN "  # noqa: S608 - constant
            "(SELECT * FROM unnest($1::text[], $2::text[]))",
            [tenant for tenant, _ in keys],
            [entity for _, entity in keys],
        )
