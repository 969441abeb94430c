"""HTTP conventions shared by the services: RFC 9457 problem details and tenant authentication."""

import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import Parameter
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE

from shared.contract.ids import OPAQUE_ID_PATTERN
from shared.platform.errors import Transient, classify
from shared.platform.tenancy import tenant_for_key

# An opaque id in a URL path. Litestar does not apply a msgspec `Meta` pattern to path parameters
# (so `FromPath[OpaqueId]` let "maya%0A" through); a `Parameter` pattern it does check.
PathId = Annotated[
    str,
    Parameter(
        pattern=OPAQUE_ID_PATTERN,
        description="Opaque identifier: 1-128 characters; no whitespace, slash or control code.",
    ),
]

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "/problems/"
# What a 503 asks clients to wait before trying again: a restarting PostgreSQL is back in seconds,
# and a pool reconnects on the first request after it is.
RETRY_AFTER_SECONDS = 2

logger = logging.getLogger(__name__)


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


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
    return FieldError(field=field, message=message)


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
    errors = [_field_error(entry) for entry in entries]
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
            description="A tenant API key created with `mastery keys create`.",
        )
    }
)
SECURITY_REQUIREMENT: list[dict[str, list[str]]] = [{"apiKey": []}]


# How long a process trusts a key it has verified without asking the database again. A revoked
# key therefore keeps working for at most this long in each process that saw it (a worst case, not
# an average); unknown, malformed and revoked keys are never cached, so a new key works at once.
KEY_CACHE_SECONDS = 5.0
KEY_CACHE_ENTRIES = 10_000


class TenantKeyCache:
    """Recently verified keys and their tenants, kept by the SHA-256 of the presented key."""

    def __init__(
        self,
        ttl_seconds: float = KEY_CACHE_SECONDS,
        max_entries: int = KEY_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, str]] = OrderedDict()

    def known(self, presented: str) -> bool:
        """Whether this process verified this exact key, however long ago; never asks the database.

        Enough to count a request against the key's id (the secret matched once), not to let it
        in: `tenant_for` still looks the key up again after the TTL.
        """
        return hashlib.sha256(presented.encode()).digest() in self._entries

    async def tenant_for(
        self, presented: str, look_up: Callable[[str], Awaitable[str | None]]
    ) -> str | None:
        digest = hashlib.sha256(presented.encode()).digest()
        cached = self._entries.get(digest)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        tenant_id = await look_up(presented)
        if tenant_id is None:
            self._entries.pop(digest, None)
            return None
        self._entries[digest] = (now + self._ttl, tenant_id)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return tenant_id


def tenant_dependency(
    pool_of: Callable[[Request[Any, Any, Any]], asyncpg.Pool],
    cache: TenantKeyCache | None = None,
) -> Callable[[Request[Any, Any, Any]], Awaitable[str]]:
    """A Litestar dependency giving the tenant of the request's bearer key, or 401.

    With a cache, a verified key is looked up again only after `KEY_CACHE_SECONDS`.
    """

    async def authenticated_tenant(request: Request[Any, Any, Any]) -> str:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise NotAuthorizedException("Send an API key as `Authorization: Bearer <key>`.")
        pool = pool_of(request)

        async def look_up(key: str) -> str | None:
            return await tenant_for_key(pool, key)

        key = presented.strip()
        tenant_id = await (cache.tenant_for(key, look_up) if cache else look_up(key))
        if tenant_id is None:
            raise NotAuthorizedException("The API key is unknown or revoked.")
        return tenant_id

    return authenticated_tenant


__all__ = [
    "BEARER_SECURITY",
    "PROBLEM_HANDLERS",
    "PROBLEM_JSON",
    "SECURITY_REQUIREMENT",
    "FieldError",
    "Problem",
    "TenantKeyCache",
    "problem_response",
    "retry_after",
    "service_unavailable",
    "tenant_dependency",
]
