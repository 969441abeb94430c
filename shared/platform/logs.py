"""Logging, configured once per process: one JSON object per line, credentials masked.

JSON escapes every control character (a newline becomes `\\n`, ESC `\\u001b`), so text a client
chose (a path, an id, an error message quoting either) cannot end a line and forge the next one,
nor colour a terminal. Every library logging through the standard `logging` module (uvicorn,
nats, the platform's own loggers) goes through the same renderer; structlog formats.

Every line logged while a request is handled carries its `request_id` (the client's
`X-Request-ID` when it is a sane token, else a new one; the response returns it) and, once its API
key is verified, its `tenant` (structlog's context variables, bound by `access_log` and
`bind_tenant`).
"""

import logging
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from typing import IO, Any

import structlog
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, HTTPResponseStartEvent, HTTPScope, Receive, Scope, Send

from shared.platform.asgi_status import ResponseStatus
from shared.platform.config import masked_urls
from shared.platform.tenancy import ApiKey

ACCESS_LOGGER = "mastery.access"
# Paths whose last segment is a bearer credential (notify's signed unsubscribe tokens): whoever
# reads the logs must not be able to use them.
_TOKEN_PATHS = re.compile(r"^(/v1/unsubscribe/)[^/]+")
REQUEST_ID_HEADER = "X-Request-ID"
# A request id a client sends is kept when it is a plain token (a UUID, a proxy's id, a trace
# id): nothing a log reader could mistake for another field, and short.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}$")


def _mask_credentials(
    _logger: object, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = masked_urls(value)
    return event


def configure_logging(stream: IO[str] | None = None, level: int = logging.INFO) -> None:
    """Send every log record of the process to `stream` (stderr) as one JSON line."""
    before: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=before,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _mask_credentials,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*before, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def request_id_of(scope: HTTPScope) -> str:
    """The client's `X-Request-ID` if it is a sane token, else a new one."""
    for name, value in scope["headers"]:
        if name.lower() == b"x-request-id":
            presented = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(presented):
                return presented
            break
    return uuid.uuid4().hex


async def bind_tenant(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard after the key guard: the lines logged from here on name the request's tenant.
    Asynchronous: Litestar runs a synchronous guard in a thread, in a copy of the context."""
    key = connection.scope.get("auth")
    if isinstance(key, ApiKey):
        structlog.contextvars.bind_contextvars(tenant=key.tenant_id)


def access_log(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: one line per HTTP request (method, path, status, milliseconds), and the
    request id on every line logged meanwhile and in the response's `X-Request-ID`.

    The path is logged decoded, as the route saw it: the renderer, not the request, keeps it on
    one line; a token in it is masked. Successful health probes and scrapes are left out; they
    would drown the rest.
    """
    logger = structlog.stdlib.get_logger(ACCESS_LOGGER)

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request: HTTPScope = scope
        started = time.perf_counter()
        request_id = request_id_of(request)
        structlog.contextvars.bind_contextvars(request_id=request_id)

        def add_request_id(start: HTTPResponseStartEvent) -> None:
            start.setdefault("headers", [])
            MutableScopeHeaders(start)[REQUEST_ID_HEADER] = request_id

        response = ResponseStatus(send, add_request_id)
        try:
            await app(scope, receive, response.send)
        finally:
            status = response.code
            path = _TOKEN_PATHS.sub(r"\1***", request["path"])
            if status >= 400 or not _QUIET_PATHS.match(path):
                key = request.get("auth")
                logger.info(
                    "request",
                    method=request["method"],
                    path=path,
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                    **({"tenant": key.tenant_id} if isinstance(key, ApiKey) else {}),
                )
            structlog.contextvars.unbind_contextvars("request_id", "tenant")

    return logged


_QUIET_PATHS = re.compile("^/health/|^/metrics$")
