import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.platform.rows import Columns, sql


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    count: int
    share: float
    active: bool
    payload: bytes
    at: datetime
    key: uuid.UUID
    document: Annotated[str, sql("jsonb")]


SAMPLES = Columns(Sample)
ROW = Sample(
    name="a",
    count=2,
    share=0.5,
    active=True,
    payload=b"\x00",
    at=datetime(2024, 1, 2, tzinfo=UTC),
    key=uuid.UUID(int=7),
    document='{"x": 1}',
)


def test_the_columns_are_the_fields_in_order_with_their_postgresql_types() -> None:
    assert SAMPLES.names == ("name", "count", "share", "active", "payload", "at", "key", "document")
    assert SAMPLES.listed == "name, count, share, active, payload, at, key, document"
    assert " | ".join(SAMPLES.sql_types) == (
        "text | integer | double precision | boolean | bytea | timestamptz | uuid | jsonb"
    )
    assert len(SAMPLES) == 8


def test_placeholders_number_the_columns_from_any_start() -> None:
    assert SAMPLES.placeholders() == "$1, $2, $3, $4, $5, $6, $7, $8"
    assert SAMPLES.placeholders(12) == "$12, $13, $14, $15, $16, $17, $18, $19"


def test_array_placeholders_carry_each_column_type() -> None:
    assert SAMPLES.arrays(3) == (
        "$3::text[], $4::integer[], $5::double precision[], $6::boolean[], $7::bytea[], "
        "$8::timestamptz[], $9::uuid[], $10::jsonb[]"
    )


def test_a_row_is_its_values_in_column_order() -> None:
    assert SAMPLES.values(ROW) == ("a", 2, 0.5, True, b"\x00", ROW.at, ROW.key, '{"x": 1}')


def test_rows_become_one_list_per_column() -> None:
    other = msgspec.structs.replace(ROW, name="b", count=3)
    arrays = SAMPLES.array_values([ROW, other])
    assert arrays[0] == ["a", "b"]
    assert arrays[1] == [2, 3]
    assert len(arrays) == len(SAMPLES)


def test_no_rows_are_empty_lists_not_no_parameters() -> None:
    assert SAMPLES.array_values([]) == [[] for _ in range(8)]


class Pair(msgspec.Struct, frozen=True):
    left: str
    right: int


@given(st.lists(st.builds(Pair, st.text(), st.integers())))
def test_the_column_lists_hold_the_rows_values(pairs: list[Pair]) -> None:
    columns = Columns(Pair)
    arrays = columns.array_values(pairs)
    assert [tuple(values) for values in zip(*arrays, strict=True)] == [
        columns.values(pair) for pair in pairs
    ]


class Unmapped(msgspec.Struct, frozen=True):
    name: str
    tags: list[str]


class Nullable(msgspec.Struct, frozen=True):
    note: str | None


class Unfrozen(msgspec.Struct):
    name: str


def test_a_field_of_an_unmapped_type_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"Unmapped\.tags"):
        Columns(Unmapped)


def test_an_optional_field_is_a_nullable_column_of_its_type() -> None:
    assert Columns(Nullable).sql_types == ("text",)


def test_an_explicit_sql_type_maps_any_annotation() -> None:
    class Tagged(msgspec.Struct, frozen=True):
        tags: Annotated[list[str], sql("text[]")]

    assert Columns(Tagged).sql_types == ("text[]",)


def test_a_mutable_row_is_refused() -> None:
    with pytest.raises(TypeError, match="frozen"):
        Columns(Unfrozen)
