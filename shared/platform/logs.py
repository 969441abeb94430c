"""Logging, configured once per process: one JSON object per line, credentials masked.

JSON escapes every control character (a newline becomes `\\n`, ESC `\\u001b`), so text a client
chose (a path, an id, an error message quoting either) cannot end a line and forge the next one,
nor colour a terminal. Every library logging through the standard `logging` module (uvicorn,
nats, the platform's own loggers) goes through the same renderer; structlog formats.
"""

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import IO, Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from shared.platform.config import masked_urls

ACCESS_LOGGER = "mastery.access"
# Paths whose last segment is a bearer credential (notify's signed unsubscribe tokens): whoever
# reads the logs must not be able to use them.
_TOKEN_PATHS = re.compile(r"^(/v1/unsubscribe/)[^/]+")


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


def access_log(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: one line per HTTP request (method, path, status, milliseconds).

    The path is logged decoded, as the route saw it: the renderer, not the request, keeps it on
    one line; a token in it is masked. Successful health probes are left out; they would drown
    the rest.
    """
    logger = structlog.stdlib.get_logger(ACCESS_LOGGER)

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request: HTTPScope = scope
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_noting_status)
        finally:
            path = _TOKEN_PATHS.sub(r"\1***", request["path"])
            if status >= 400 or not path.startswith("/health/"):
                logger.info(
                    "request",
                    method=request["method"],
                    path=path,
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )

    return logged
