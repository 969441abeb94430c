"""The status an HTTP response started with, for the middlewares that report it (the access line,
the request metrics, the request's span)."""

from collections.abc import Callable

from litestar.types import HTTPResponseStartEvent, Message, Send

# What the client gets if the app fails before its response starts.
NOT_STARTED = 500
OnStart = Callable[[HTTPResponseStartEvent], None]


class ResponseStatus:
    """Passes the app's messages on to `send`, noting the status of `http.response.start` (and
    handing that message to `on_start` first, which may add headers)."""

    __slots__ = ("_on_start", "_send", "code")

    def __init__(self, send: Send, on_start: OnStart | None = None) -> None:
        self.code = NOT_STARTED
        self._send = send
        self._on_start = on_start

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.code = message["status"]
            if self._on_start is not None:
                self._on_start(message)
        await self._send(message)
