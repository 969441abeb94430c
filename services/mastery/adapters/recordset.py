"""A row Struct as a `json_to_recordset` document: the column list, the record definition and the
JSON document, all derived from the one Struct, so no statement depends on column positions."""

import types
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, Union, get_args, get_origin

import msgspec

RowT = TypeVar("RowT", bound=msgspec.Struct)

_SQL_TYPES: dict[Any, str] = {
    str: "text",
    int: "bigint",
    float: "float8",
    bool: "bool",
    datetime: "timestamptz",
}


def sql_type(annotation: Any) -> str:
    """The PostgreSQL type of a row field; `X | None` is X, a nested Struct is json."""
    if get_origin(annotation) in (Union, types.UnionType):
        [inner] = [arg for arg in get_args(annotation) if arg is not type(None)]
        return sql_type(inner)
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return "json"
    if annotation not in _SQL_TYPES:
        raise TypeError(f"no PostgreSQL type for {annotation!r}")
    return _SQL_TYPES[annotation]


class Recordset(Generic[RowT]):
    def __init__(self, row_type: type[RowT]) -> None:
        self.names: tuple[str, ...] = row_type.__struct_fields__
        hints = msgspec.structs.fields(row_type)
        self._definition = ", ".join(f"{field.name} {sql_type(field.type)}" for field in hints)
        self._json_fields = {n for n, field in enumerate(hints) if sql_type(field.type) == "json"}
        self._encoder = msgspec.json.Encoder()

    def columns(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + name for name in self.names)

    def from_document(self, parameter: str, alias: str = "r", *, ordinality: bool = False) -> str:
        """The rows of a JSON document parameter; with `ordinality`, numbered `n` in order."""
        rows = f"json_to_recordset(convert_from({parameter}::bytea, 'UTF8')::json)"
        if ordinality:
            return f"ROWS FROM ({rows} AS ({self._definition})) WITH ORDINALITY AS {alias}" + (
                f"({self.columns()}, n)"
            )
        return f"{rows} AS {alias}({self._definition})"

    def assignments(self, source: str, names: Sequence[str]) -> str:
        """`name = source.name, ...` for an UPDATE or an upsert's DO UPDATE."""
        unknown = set(names) - set(self.names)
        if unknown:
            raise ValueError(f"not columns of this row: {sorted(unknown)}")
        return ", ".join(f"{name} = {source}.{name}" for name in names)

    def document(self, rows: Iterable[RowT]) -> bytes:
        """One JSON array of objects keyed by field name, as `json_to_recordset` matches them."""
        return self._encoder.encode(list(rows))

    def record(self, row: RowT) -> tuple[Any, ...]:
        """The row as a COPY record in `names` order, nested Structs as JSON text."""
        values = msgspec.structs.astuple(row)
        if not self._json_fields:
            return values
        return tuple(
            self._encoder.encode(value).decode() if n in self._json_fields else value
            for n, value in enumerate(values)
        )
