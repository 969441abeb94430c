"""Serving limits: a deadline for each request head, idle keep-alive timeout, connection limit.

uvicorn closes an idle keep-alive connection (`timeout_keep_alive`) and answers 503 beyond
`limit_concurrency`, but it has no header-read timeout: its keep-alive timer starts only after a
response and is cancelled by the first byte of the next request, so a client that connects and
sends nothing, or half a request head, or a byte every few seconds (slowloris), holds its
connection for ever; with a connection limit such clients would hold the limit itself. No ASGI
server in the lock has one either (h11 is a parser without timers), so the one missing timer is
added here, to uvicorn's own httptools protocol: from the moment a connection opens or a new
request starts until its head is complete.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.platform.config import ServiceConfig


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request head."""

    head_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        # Whether the connection is between requests or inside a head: when bytes arrive then,
        # the head's clock runs. False while a request's body is read and its response written.
        self._awaiting_head = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._awaiting_head:
            self._start_head_clock()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = True
        self._start_head_clock()

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._stop_head_clock()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn armed its idle timer: the connection waits for a next request, whose first
        # bytes cancel that timer and must start the head's.
        if self.timeout_keep_alive_task is not None:
            self._awaiting_head = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def _start_head_clock(self) -> None:
        if self._head_deadline is None and not self.transport.is_closing():
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _stop_head_clock(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with_head_timeout(seconds: float) -> type[HeadTimeoutProtocol]:
    """The protocol class uvicorn instantiates per connection, with its deadline set."""
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"head_timeout": seconds})


def server_options(config: ServiceConfig) -> dict[str, Any]:
    """uvicorn's keyword arguments for the configured serving limits."""
    return {
        "http": protocol_with_head_timeout(config.http_header_timeout),
        "timeout_keep_alive": config.http_keep_alive_timeout,
        # uvicorn answers 503 once open connections reach its limit, counting the one asking.
        "limit_concurrency": config.http_max_connections + 1,
    }


__all__ = ["HeadTimeoutProtocol", "protocol_with_head_timeout", "server_options"]
