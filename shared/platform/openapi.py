"""Errors in each service's OpenAPI document as they are on the wire.

Every answer of 400 or more is an RFC 9457 problem (`shared.platform.http`), so every operation
documents each status it can produce with the one `ProblemDetails` schema as
`application/problem+json`. The statuses the platform produces follow from what a route declares,
so `document_problems` adds them to every route of an app:

- a scope (`opt=requires(...)`): 401 (no, unknown or revoked key), 403 (a scope that does not
  grant it) and 503 (the key is looked up in PostgreSQL);
- any path outside `/health/` and `/schema`: 429 (the per-key rate limit, `limits.py`);
- a JSON body (a `data` parameter): 400 (not JSON, or nested too deeply), 413 (too large), 415
  (not a JSON media type) and 422 (invalid; `errors` names each field);
- a path or query parameter: 422 (not of its pattern or type), 400 (not decodable at all).

What only the handler knows (404 for something looked up, 409 for a conflict, 503 where it
answers one itself) the route declares in its `responses`, with a description; a declared status
of 400 or more is documented as a problem whatever its `ResponseSpec` says.
"""

import re
import typing
from collections.abc import Iterator

import msgspec
from litestar import Litestar
from litestar.constants import RESERVED_KWARGS
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPI, Operation, RequestBody, Schema, Tag
from litestar.params import DependencyKwarg
from litestar.routes import HTTPRoute

from shared.platform.auth import SCOPE_OPT
from shared.platform.http import PROBLEM_JSON, ProblemDetails
from shared.platform.validation import request_struct

# The platform's own routes, outside the rate limit and outside the security (`limits.py`).
UNLIMITED_PREFIXES = ("/health/", "/schema")
BODY_PARAMETER = "data"
REF_TEMPLATE = "#/components/schemas/{name}"

STATUS_MEANINGS = {
    400: "Malformed request: a body that is not JSON or nests too deeply, or a bad parameter",
    401: "No API key, or an unknown or revoked one",
    403: "The API key's scope does not grant this operation",
    413: "The body is larger than the service accepts",
    415: "The body is not `application/json`",
    422: "The request is not valid; `errors` names each invalid field",
    429: "The API key's rate limit is spent; retry after `Retry-After` seconds",
    503: "A dependency (PostgreSQL) is unreachable; retry after `Retry-After` seconds",
}


def problem(description: str) -> ResponseSpec:
    """A route's own error response (404, 409, ...), documented as a problem."""
    return ResponseSpec(
        ProblemDetails, description=description, media_type=PROBLEM_JSON, generate_examples=False
    )


def producible_statuses(path: str, handler: HTTPRouteHandler) -> set[int]:
    """The error statuses the platform answers on this route, from what the route declares."""
    statuses: set[int] = set()
    if handler.opt.get(SCOPE_OPT) is not None:
        statuses |= {401, 403, 503}
    if not path.startswith(UNLIMITED_PREFIXES):
        statuses.add(429)
    if BODY_PARAMETER in handler.parsed_fn_signature.parameters:
        statuses |= {400, 413, 415, 422}
    if _url_parameters(handler):
        statuses |= {400, 422}
    return statuses


def _url_parameters(handler: HTTPRouteHandler) -> list[str]:
    """The handler's path, query, header and cookie parameters: what Litestar validates."""
    dependencies = handler.resolve_dependencies()
    return [
        name
        for name, parameter in handler.parsed_fn_signature.parameters.items()
        if name not in RESERVED_KWARGS
        and name not in dependencies
        and not isinstance(parameter.kwarg_definition, DependencyKwarg)
    ]


def api_routes(app: Litestar) -> Iterator[tuple[HTTPRoute, HTTPRouteHandler]]:
    """Each route and handler of the app but Litestar's own (OPTIONS, the schema)."""
    schema_path = (app.openapi_config and app.openapi_config.path) or "/schema"
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(schema_path):
            continue
        for handler in route.route_handlers:
            if handler.http_methods != {"OPTIONS"} and handler.include_in_schema:
                yield route, handler


def document_problems(app: Litestar) -> None:
    """Give every route of `app` a problem response for each status it can produce; and public
    routes (no scope) an empty security in the document. Call before the document is built."""
    for route, handler in api_routes(app):
        declared = dict(handler.responses or {})
        responses = {
            status: problem(STATUS_MEANINGS[status])
            for status in producible_statuses(route.path, handler)
        }
        for status, spec in declared.items():
            responses[status] = problem(spec.description) if status >= 400 else spec
        handler.responses = dict(sorted(responses.items()))


def strict_request_schemas(app: Litestar, document: OpenAPI) -> None:
    """Each request body as msgspec itself describes the Struct that validates it.

    msgspec's JSON Schema says what its conversion refuses: `additionalProperties: false` for a
    Struct that forbids unknown fields, bounds of 0 (which the framework's schema leaves out),
    patterns and `date-time` formats; and a Struct's `JSON_SCHEMA_EXTRA` (rules across fields,
    such as a score required by a scored attempt) is added to its component.
    """
    structs = {path_method: struct for path_method, struct in _bodies(app)}
    if not structs:
        return
    tops, components = msgspec.json.schema_components(
        sorted(set(structs.values()), key=lambda s: s.__name__), ref_template=REF_TEMPLATE
    )
    by_struct = dict(
        zip(sorted(set(structs.values()), key=lambda s: s.__name__), tops, strict=True)
    )
    for struct in by_struct:
        for extra_struct in _nested_structs(struct):
            extra = getattr(extra_struct, "JSON_SCHEMA_EXTRA", None)
            if extra is not None and extra_struct.__name__ in components:
                components[extra_struct.__name__] = {**components[extra_struct.__name__], **extra}
    schemas = document.components.schemas if document.components else None
    if schemas is None:
        return
    schemas.update(typing.cast(dict[str, Schema], components))
    for (path, method), struct in structs.items():
        operation: Operation | None = getattr((document.paths or {}).get(path), method, None)
        body = None if operation is None else operation.request_body
        if isinstance(body, RequestBody):
            for media in body.content.values():
                media.schema = typing.cast(Schema, by_struct[struct])


def _bodies(app: Litestar) -> Iterator[tuple[tuple[str, str], type[msgspec.Struct]]]:
    for route, handler in api_routes(app):
        struct = request_struct(handler)
        if struct is not None:
            for method in handler.http_methods:
                yield (route.path_format, method.lower()), struct


def _nested_structs(struct: type[msgspec.Struct]) -> Iterator[type[msgspec.Struct]]:
    yield struct
    for hint in typing.get_type_hints(struct).values():
        for argument in (hint, *typing.get_args(hint)):
            for inner in (argument, *typing.get_args(argument)):
                if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
                    yield inner


TAG_DESCRIPTIONS = {
    "attempts": "Assessment attempts and their corrections, recorded as immutable events.",
    "standards": "Standards, their grading policies and the tenant's default policy.",
    "mastery": "Proficiency per student and standard, as the read model holds it.",
    "calculator": "Proficiency calculated from scores given, storing nothing.",
    "students": "Students' display names, for family emails.",
    "guardians": "Who gets a student's family emails.",
    "notifications": "Family emails: settings, failures and suppressed addresses.",
    "unsubscribe": "One-click unsubscribe links of family emails (RFC 8058).",
    "health": "Liveness and readiness probes.",
    "problems": "A page per problem type, where each problem's `type` points.",
    "oneroster": "A class's proficiencies as a OneRoster 1.2 gradebook, REST and bulk CSV.",
}


def polish(document: OpenAPI) -> None:
    """What OpenAPI linters ask beyond validity: each operation described (its summary when it
    has no description of its own), each tag declared, no unused schema."""
    tags: set[str] = set()
    for item in (document.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation: Operation | None = getattr(item, method, None)
            if operation is None:
                continue
            operation.description = operation.description or operation.summary
            tags.update(operation.tags or [])
    document.tags = [
        Tag(name=name, description=TAG_DESCRIPTIONS.get(name, name.capitalize()))
        for name in sorted(tags)
    ]
    _prune_schemas(document)


def _prune_schemas(document: OpenAPI) -> None:
    schemas = document.components.schemas if document.components else None
    if not schemas:
        return
    encoded = msgspec.json.encode(document.to_schema()["paths"]).decode()
    reachable: set[str] = set()
    pending = set(re.findall(r"#/components/schemas/([^\"]+)", encoded))
    while pending:
        name = pending.pop()
        if name in reachable or name not in schemas:
            continue
        reachable.add(name)
        inner = msgspec.json.encode(_plain(schemas[name])).decode()
        pending.update(re.findall(r"#/components/schemas/([^\"]+)", inner))
    for name in set(schemas) - reachable:
        del schemas[name]


def _plain(schema: object) -> object:
    to_schema = getattr(schema, "to_schema", None)
    return to_schema() if callable(to_schema) else schema


def mark_public_operations(app: Litestar, document: OpenAPI) -> None:
    """`security: []` on the operations of routes that declare no scope (health, unsubscribe)."""
    for route, handler in api_routes(app):
        if handler.opt.get(SCOPE_OPT) is not None:
            continue
        item = (document.paths or {}).get(route.path_format)
        for method in handler.http_methods:
            operation: Operation | None = getattr(item, method.lower(), None)
            if operation is not None:
                operation.security = []


__all__ = [
    "api_routes",
    "document_problems",
    "mark_public_operations",
    "polish",
    "problem",
    "producible_statuses",
    "request_struct",
    "strict_request_schemas",
]
