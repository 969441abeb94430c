"""Every invalid field of a JSON body, not only the first.

msgspec stops at the first error when it converts a body into its request Struct, so a 422 would
name one field. The framework's conversion stays the one that decides (a body it accepts is the
one the handler gets); once it refuses, `field_errors` converts the decoded body field by field
with the same Struct's own field types, so each error is the one msgspec gives for that field.
Nested Structs, and lists of them, are walked the same way. A Struct's `__post_init__` checks run
on the whole Struct, so they are reached once every field converts on its own.
"""

import re
import typing
from typing import Any

import msgspec

# A request Struct's `__post_init__` names the field it refuses as `field: message`.
NAMED_FIELD = re.compile(r"^([a-z_][a-z0-9_]*): ")
# Where `BoundedRequest` keeps the decoded body in the request's state.
DECODED_BODY = "decoded_json_body"


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One invalid field: of the body, a parameter, or (with `file` and `line`) a line of an
    uploaded file, such as a OneRoster CSV (line 1 is its header, 0 the file as a whole)."""

    field: str
    message: str
    file: str | None = None
    line: int | None = None


# As `msgspec.json.decode` converts: no number taken for a date-time, no string for a number.
STRICT: dict[str, Any] = {"strict": True, "str_keys": True}


def request_struct(handler: Any) -> type[msgspec.Struct] | None:
    """The Struct a route handler's JSON body (`data`) converts into, if it has one."""
    data = handler.parsed_fn_signature.parameters.get("data")
    annotation = None if data is None else data.annotation
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    return None


def _path(prefix: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    return f"{prefix}.{name}" if prefix else name


def _message(error: msgspec.ValidationError) -> tuple[str, str]:
    """The message and the path under the value converted (`$.x[0]` as `.x[0]`)."""
    text = str(error)
    message, _, at = text.partition(" - at `$")
    return message, at.rstrip("`")


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct an annotation holds, through `Annotated` and `| None`."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _struct_of(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    structs = [_struct_of(arg) for arg in typing.get_args(annotation)]
    found = [struct for struct in structs if struct is not None]
    return found[0] if len(found) == 1 else None


def _list_item(annotation: Any) -> Any:
    """The item type of a `list[...]` annotation, through `Annotated` and `| None`."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _list_item(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0]
    items = [_list_item(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
    return items[0] if len(items) == 1 else None


def _value_errors(annotation: Any, value: Any, path: str) -> list[FieldError]:
    try:
        msgspec.convert(value, annotation, **STRICT)
    except msgspec.ValidationError as error:
        struct = _struct_of(annotation)
        if struct is not None and isinstance(value, dict):
            return field_errors(struct, value, path) or _whole(error, path)
        item = _list_item(annotation)
        if item is not None and isinstance(value, list) and _struct_of(item) is not None:
            nested = [
                e for n, v in enumerate(value) for e in _value_errors(item, v, _path(path, n))
            ]
            return nested or _whole(error, path)
        return _whole(error, path)
    return []


def _whole(error: msgspec.ValidationError, path: str) -> list[FieldError]:
    message, at = _message(error)
    field = f"{path}{at}" if path else at.lstrip(".")
    named = NAMED_FIELD.match(message)
    if named:  # a Struct's `__post_init__` names the field it refuses
        field = _path(field, named.group(1))
        message = message[named.end() :]
    return [FieldError(field=field or "body", message=message)]


def field_errors(struct: type[msgspec.Struct], body: Any, path: str = "") -> list[FieldError]:
    """Each invalid field of `body` (decoded JSON) for `struct`; empty if it converts."""
    if not isinstance(body, dict):
        return _value_errors(struct, body, path) if path else _whole_body(struct, body)
    hints = typing.get_type_hints(struct, include_extras=True)
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    errors: list[FieldError] = []
    for field in info.fields:
        where = _path(path, field.encode_name)
        if field.encode_name in body:
            errors += _value_errors(hints[field.name], body[field.encode_name], where)
        elif field.required:
            errors.append(
                FieldError(
                    field=where, message=f"Object missing required field `{field.encode_name}`"
                )
            )
    if info.forbid_unknown_fields:
        known = {field.encode_name for field in info.fields}
        errors += [
            FieldError(
                field=_path(path, str(name)), message=f"Object contains unknown field `{name}`"
            )
            for name in body
            if name not in known
        ]
    return errors


def _whole_body(struct: type[msgspec.Struct], body: Any) -> list[FieldError]:
    try:
        msgspec.convert(body, struct, **STRICT)
    except msgspec.ValidationError as error:
        return _whole(error, "")
    return []


__all__ = ["DECODED_BODY", "NAMED_FIELD", "STRICT", "FieldError", "field_errors", "request_struct"]
