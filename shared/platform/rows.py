"""One table row as a frozen Struct, from which a statement's column list and parameters follow.

A statement that names columns in one place and passes values in another couples the two by
position; adding a column then means editing both in step. Here the Struct's fields, in order, are
the columns: the SQL text (column list, placeholders, `unnest` arrays) and the parameters (a row as
a tuple, rows as one array per column) are both read off it, so a column is one edit.

The PostgreSQL type of a field comes from `SQL_TYPES` by its annotation (`X | None` is a nullable
X), or from `Annotated[..., sql("json")]`; any other annotation is refused when the columns are
built (at import), not at the first statement.

Rows can also travel as one JSON document that PostgreSQL unpacks (`json_to_recordset`): one
parameter for any number of rows, which costs PostgreSQL less than one array per column.
"""

import types
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

import msgspec

R = TypeVar("R", bound=msgspec.Struct)

SQL_TYPES: dict[object, str] = {
    str: "text",
    int: "integer",
    float: "double precision",
    bool: "boolean",
    bytes: "bytea",
    datetime: "timestamptz",
    uuid.UUID: "uuid",
}


def sql(type_name: str) -> msgspec.Meta:
    """The PostgreSQL type of a field, for `Annotated[str, sql("jsonb")]`."""
    return msgspec.Meta(extra={"sql": type_name})


def _sql_type(row: type, name: str, annotation: Any) -> str:
    if get_origin(annotation) is Annotated:
        for meta in get_args(annotation)[1:]:
            if isinstance(meta, msgspec.Meta) and meta.extra and "sql" in meta.extra:
                return str(meta.extra["sql"])
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(present) == 1 and len(get_args(annotation)) == 2:
            return _sql_type(row, name, present[0])
    try:
        return SQL_TYPES[annotation]
    except (KeyError, TypeError):
        raise TypeError(
            f"{row.__name__}.{name}: no PostgreSQL type for {annotation!r}; "
            f'annotate it as Annotated[..., sql("<type>")]'
        ) from None


class Columns(Generic[R]):
    """The columns of one row Struct, in field order."""

    def __init__(self, row: type[R]) -> None:
        if not row.__struct_config__.frozen:
            raise TypeError(f"{row.__name__} must be frozen: rows are values")
        fields = msgspec.structs.fields(row)
        self.row = row
        self.names = tuple(field.name for field in fields)
        self.sql_types = tuple(_sql_type(row, field.name, field.type) for field in fields)
        self.listed = ", ".join(self.names)
        self._definition = ", ".join(
            f"{name} {kind}" for name, kind in zip(self.names, self.sql_types, strict=True)
        )
        self._json = {n for n, kind in enumerate(self.sql_types) if kind in ("json", "jsonb")}
        self._encoder = msgspec.json.Encoder()

    def __len__(self) -> int:
        return len(self.names)

    def placeholders(self, start: int = 1) -> str:
        """`$start, $start+1, ...`: one scalar parameter per column."""
        return ", ".join(f"${start + n}" for n in range(len(self)))

    def arrays(self, start: int = 1) -> str:
        """`$start::text[], ...`: one array parameter per column, as `unnest(...)` takes them."""
        return ", ".join(f"${start + n}::{kind}[]" for n, kind in enumerate(self.sql_types))

    def values(self, row: R) -> tuple[Any, ...]:
        """The row's parameters, in column order."""
        return msgspec.structs.astuple(row)

    def array_values(self, rows: Sequence[R]) -> list[list[Any]]:
        """The rows' parameters for `arrays()`: one list per column."""
        if not rows:
            return [[] for _ in self.names]
        return [list(column) for column in zip(*map(msgspec.structs.astuple, rows), strict=True)]

    def qualified(self, alias: str) -> str:
        """`alias.a, alias.b, ...`."""
        return ", ".join(f"{alias}.{name}" for name in self.names)

    def assignments(self, source: str, names: Sequence[str]) -> str:
        """`a = source.a, ...` for an UPDATE or an upsert's DO UPDATE."""
        unknown = set(names) - set(self.names)
        if unknown:
            raise ValueError(f"not columns of {self.row.__name__}: {sorted(unknown)}")
        return ", ".join(f"{name} = {source}.{name}" for name in names)

    def recordset(self, parameter: str, alias: str = "r", *, ordinality: bool = False) -> str:
        """The rows of a `document()` parameter as a FROM item; with `ordinality`, numbered `n`
        in the document's order."""
        rows = f"json_to_recordset(convert_from({parameter}::bytea, 'UTF8')::json)"
        if ordinality:
            numbered = f"ROWS FROM ({rows} AS ({self._definition})) WITH ORDINALITY"
            return f"{numbered} AS {alias}({self.listed}, n)"
        return f"{rows} AS {alias}({self._definition})"

    def document(self, rows: Iterable[R]) -> bytes:
        """The rows as one JSON array of objects keyed by column, for `recordset()`."""
        return self._encoder.encode(list(rows))

    def record(self, row: R) -> tuple[Any, ...]:
        """The row as a COPY record, json columns as JSON text."""
        values = msgspec.structs.astuple(row)
        if not self._json:
            return values
        return tuple(
            self._encoder.encode(value).decode() if n in self._json else value
            for n, value in enumerate(values)
        )
