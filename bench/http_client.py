"""A lean HTTP/1.1 keep-alive client over asyncio streams, for load generation.

httpx spends most of a request in its own machinery (it saturates near 760 requests/s on a
2-core machine); this client writes prebuilt request bytes and reads only the status line and the
Content-Length body, which is all a load generator needs.
"""

import asyncio
from dataclasses import dataclass

_CONTENT_LENGTH = b"\r\ncontent-length:"
_HEAD_END = b"\r\n\r\n"


class ProtocolError(Exception):
    """The server answered something this client does not read (e.g. a chunked body)."""


@dataclass(frozen=True, slots=True)
class JsonPost:
    """Builds POST requests to one path with fixed headers; only the body varies."""

    host: str
    port: int
    path: str
    bearer: str

    def request(self, body: bytes) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.bearer}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("ascii") + body


class KeepAliveConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> "KeepAliveConnection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        """Send one request and read its whole response; returns the status code."""
        status, _ = await self.exchange_with_body(request)
        return status

    async def exchange_with_body(self, request: bytes) -> tuple[int, bytes]:
        """Send one request and read its whole response; returns the status code and the body."""
        self._writer.write(request)
        head = await self._reader.readuntil(_HEAD_END)
        status = int(head[9:12])
        body = await self._reader.readexactly(content_length(head))
        return status, body

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


def content_length(head: bytes) -> int:
    lowered = head.lower()
    start = lowered.find(_CONTENT_LENGTH)
    if start < 0:
        raise ProtocolError("response without Content-Length")
    end = lowered.find(b"\r\n", start + len(_CONTENT_LENGTH))
    return int(lowered[start + len(_CONTENT_LENGTH) : end])
