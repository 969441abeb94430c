"""HTTP conventions shared by the services: RFC 9457 problem details and the API's security.

Keys and scopes are checked in `shared.platform.auth`.
"""

import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import Parameter
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE

from shared.contract.ids import OPAQUE_ID_DESCRIPTION, OPAQUE_ID_PATTERN
from shared.platform.errors import Transient, classify
from shared.platform.validation import (
    DECODED_BODY,
    NAMED_FIELD,
    FieldError,
    field_errors,
    request_struct,
)

# An opaque id in a URL path. Litestar does not apply a msgspec `Meta` pattern to path parameters
# (so `FromPath[OpaqueId]` let "maya%0A" through); a `Parameter` pattern it does check.
PathId = Annotated[
    str,
    Parameter(pattern=OPAQUE_ID_PATTERN, description=OPAQUE_ID_DESCRIPTION),
]

# Read your writes (docs/architecture.md, "Reading your writes"): a write answers the log position
# of its event in this header (and in its body); a read answers how far its read model has got,
# and whether it gave up waiting for the position asked for.
LOG_POSITION_HEADER = "X-Log-Position"
READ_MODEL_POSITION_HEADER = "X-Read-Model-Position"
READ_MODEL_STALE_HEADER = "X-Read-Model-Stale"

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "/problems/"
# What a 503 asks clients to wait before trying again: a restarting PostgreSQL is back in seconds,
# and a pool reconnects on the first request after it is.
RETRY_AFTER_SECONDS = 2

logger = logging.getLogger(__name__)


class ProblemDetails(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details: what every answer of 400 or more carries."""

    type: Annotated[
        str,
        msgspec.Meta(
            description="A URI reference naming the kind of problem; GET it for its page.",
            examples=["/problems/validation-error"],
        ),
    ]
    title: Annotated[str, msgspec.Meta(description="The same for every problem of this type.")]
    status: Annotated[int, msgspec.Meta(ge=400, le=599, description="The HTTP status.")]
    detail: Annotated[str, msgspec.Meta(description="What went wrong with this request.")]
    instance: Annotated[str, msgspec.Meta(description="The path of the request.")]
    errors: Annotated[
        list[FieldError] | None, msgspec.Meta(description="Each invalid field (422).")
    ] = None
    rule: Annotated[
        str | None,
        msgspec.Meta(description="The reassessment rule that refused the request (409)."),
    ] = None
    remedy: Annotated[
        str | None, msgspec.Meta(description="What would let the request through (with `rule`).")
    ] = None
    required_scope: Annotated[str | None, msgspec.Meta(description="The scope needed (403).")] = (
        None
    )
    key_scope: Annotated[str | None, msgspec.Meta(description="The key's scope (403).")] = None


class Problem(HTTPException):
    """An error the client can act on, rendered as RFC 9457 problem details."""

    def __init__(
        self, status: int, slug: str, title: str, detail: str, **extensions: object
    ) -> None:
        super().__init__(status_code=status, detail=detail)
        self.slug = slug
        self.title = title
        self.extensions = extensions


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    extensions: dict[str, object] | None = None,
) -> Response[dict[str, object]]:
    body: dict[str, object] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(extensions or {})
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


def _field_error(entry: object) -> FieldError:
    """Name the offending field even where the framework only says `data`."""
    if not isinstance(entry, dict):
        return FieldError(field="body", message=str(entry))
    message = str(entry.get("message", "invalid value"))
    field = str(entry.get("key") or "body")
    for pattern in (_MISSING_FIELD, _UNKNOWN_FIELD):
        found = pattern.search(message)
        if found:
            field = found.group(1)
    at_path = _AT_PATH.search(message)
    if at_path:
        nested = at_path.group(1)
        field = f"{field}.{nested}" if field not in {"data", "body"} else nested
        message = message[: at_path.start()]
    if field == "data":
        field = "body"
    named = NAMED_FIELD.match(message)
    if named:
        field = named.group(1) if field in {"", "body"} else f"{field}.{named.group(1)}"
        message = message[named.end() :]
    return FieldError(field=field, message=message)


def _every_body_error(request: Request[Any, Any, Any], entries: list[object]) -> list[FieldError]:
    """Every invalid field of a refused JSON body, where the framework names only the first."""
    body_refused = any(isinstance(e, dict) and e.get("source") == "body" for e in entries)
    state = request.scope.get("state") or {}
    struct = request_struct(request.route_handler)
    if not body_refused or DECODED_BODY not in state or struct is None:
        return []
    # Empty when every field converts on its own and a Struct's own check (`__post_init__`)
    # refused: the framework's error names it.
    return field_errors(struct, state[DECODED_BODY])


def _validation_handler(
    request: Request[Any, Any, Any], error: ValidationException
) -> Response[dict[str, object]]:
    entries = error.extra if isinstance(error.extra, list) else []
    if not entries:
        return problem_response(
            request,
            status=400,
            slug="malformed-request",
            title="Malformed request",
            detail=str(error.detail),
        )
    errors = _every_body_error(request, entries) or [_field_error(entry) for entry in entries]
    return problem_response(
        request,
        status=422,
        slug="validation-error",
        title="The request is not valid",
        detail="; ".join(f"{e.field}: {e.message}" for e in errors),
        extensions={"errors": msgspec.to_builtins(errors)},
    )


def _problem_handler(
    request: Request[Any, Any, Any], error: Problem
) -> Response[dict[str, object]]:
    response = problem_response(
        request,
        status=error.status_code,
        slug=error.slug,
        title=error.title,
        detail=str(error.detail),
        extensions=dict(error.extensions),
    )
    response.headers.update(error.headers or {})
    return response


def uri(*segments: str) -> str:
    """An absolute path of percent-encoded segments: a `Location` stays ASCII whatever an id
    holds (RFC 3986 section 3.3)."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


def retry_after() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def service_unavailable(
    request: Request[Any, Any, Any], unavailable: Transient
) -> Response[dict[str, object]]:
    """503: the request may succeed unchanged once `unavailable.dependency` is back."""
    response = problem_response(
        request,
        status=HTTP_503_SERVICE_UNAVAILABLE,
        slug="service-unavailable",
        title="Service unavailable",
        detail=(
            f"The service cannot reach {unavailable.dependency} right now. "
            f"Try again in {RETRY_AFTER_SECONDS} seconds."
        ),
    )
    response.headers.update(retry_after())
    return response


def _http_handler(
    request: Request[Any, Any, Any], error: HTTPException
) -> Response[dict[str, object]]:
    title = HTTPStatus(error.status_code).phrase
    response = problem_response(
        request,
        status=error.status_code,
        slug=title.lower().replace(" ", "-"),
        title=title,
        detail=str(error.detail),
    )
    # A 405 names the methods the path has (`Allow`, RFC 9110 section 15.5.6).
    response.headers.update(error.headers or {})
    if isinstance(error, NotAuthorizedException):
        response.headers["WWW-Authenticate"] = 'Bearer realm="mastery"'
    return response


def _unexpected_handler(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, object]]:
    kind = classify(error)
    if isinstance(kind, Transient):
        logger.warning(
            "%s %s: answered 503, cannot reach %s (%s: %s)",
            request.method,
            request.url.path,
            kind.dependency,
            type(error).__name__,
            error,
        )
        return service_unavailable(request, kind)
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        status=HTTP_500_INTERNAL_SERVER_ERROR,
        slug="internal-error",
        title="Internal error",
        detail="The server failed to handle this request; it was logged.",
    )


ExceptionHandler = Callable[[Request[Any, Any, Any], Any], Response[Any]]

PROBLEM_HANDLERS: dict[type[Exception], ExceptionHandler] = {
    Problem: _problem_handler,
    ValidationException: _validation_handler,
    HTTPException: _http_handler,
    Exception: _unexpected_handler,
}

BEARER_SECURITY = Components(
    security_schemes={
        "apiKey": SecurityScheme(
            type="http",
            scheme="bearer",
            description="A tenant API key created with `mastery keys create`. Its scope "
            "(`ingest`, `read` or `admin`) must grant the one each operation needs.",
        )
    }
)
SECURITY_REQUIREMENT: list[dict[str, list[str]]] = [{"apiKey": []}]


__all__ = [
    "BEARER_SECURITY",
    "PROBLEM_HANDLERS",
    "PROBLEM_JSON",
    "SECURITY_REQUIREMENT",
    "FieldError",
    "Problem",
    "ProblemDetails",
    "problem_response",
    "retry_after",
    "service_unavailable",
    "uri",
]
