"""Statements derived from row Structs, against a real PostgreSQL."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import msgspec
import pytest

from services.attempts.adapters.event_store import EventRow
from services.attempts.adapters.standards_store import PolicyRow, StandardRow
from services.mastery.adapters.change_log import ChangeLogRow
from services.mastery.adapters.read_model import EvidenceTableRow, ProficiencyTableRow
from services.notify.adapters.store import GuardianRow, NotificationRow
from shared.platform.outbox import OutboxRow
from shared.platform.rows import Columns, sql


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    count: int
    share: float
    active: bool
    payload: bytes
    at: datetime
    key: uuid.UUID
    text_key: Annotated[str, sql("uuid")]
    document: Annotated[str, sql("jsonb")]


SAMPLES = Columns(Sample)
TABLE = ", ".join(map(" ".join, zip(SAMPLES.names, SAMPLES.sql_types, strict=True)))


def _sample(number: int) -> Sample:
    return Sample(
        name=f"row {number}",
        count=number,
        share=number / 4,
        active=number % 2 == 0,
        payload=bytes([number, 0, 255]),
        at=datetime(2024, 5, 6, 7, 8, number, 123456, tzinfo=UTC),
        key=uuid.UUID(int=number),
        text_key=str(uuid.UUID(int=number + 100)),
        document=f'{{"n": {number}}}',
    )


def _read(record: asyncpg.Record) -> Sample:
    found = dict(record)
    return Sample(**found | {"text_key": str(found["text_key"])})


async def test_rows_round_trip_through_placeholders_and_unnest_arrays(pool: asyncpg.Pool) -> None:
    await pool.execute(f"CREATE TABLE samples (tag text, {TABLE})")
    one, many = _sample(1), [_sample(2), _sample(3)]
    # Parameters after a leading one, as a statement numbering its own after another's.
    await pool.execute(
        f"INSERT INTO samples (tag, {SAMPLES.listed}) VALUES ($1, {SAMPLES.placeholders(2)})",
        "one",
        *SAMPLES.values(one),
    )
    await pool.execute(
        f"INSERT INTO samples (tag, {SAMPLES.listed}) "
        f"SELECT $1, * FROM unnest({SAMPLES.arrays(2)})",
        "many",
        *SAMPLES.array_values(many),
    )
    rows = await pool.fetch(f"SELECT {SAMPLES.listed} FROM samples ORDER BY count")
    assert [_read(row) for row in rows] == [one, *many]


@pytest.mark.parametrize(
    ("table", "row"),
    [
        ("attempt_events", EventRow),
        ("standards", StandardRow),
        ("tenant_policies", PolicyRow),
        ("guardians", GuardianRow),
        ("notifications", NotificationRow),
        ("mastery_changes", OutboxRow),
        ("mastery_changes", ChangeLogRow),
        ("mastery_evidence", EvidenceTableRow),
        ("proficiencies", ProficiencyTableRow),
    ],
)
async def test_each_row_struct_names_its_tables_columns_with_their_types(
    pool: asyncpg.Pool, table: str, row: type[msgspec.Struct]
) -> None:
    columns = Columns(row)
    found = await pool.fetch(
        "SELECT declared.name, coalesce(atttypid = to_regtype(kind)::oid, false) AS same_type "
        "FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS declared (name, kind, n) "
        "LEFT JOIN pg_attribute "
        "ON attrelid = $1::regclass AND attname = declared.name AND NOT attisdropped "
        "ORDER BY n",
        table,
        list(columns.names),
        list(columns.sql_types),
    )
    assert [(item["name"], item["same_type"]) for item in found] == [
        (name, True) for name in columns.names
    ]
