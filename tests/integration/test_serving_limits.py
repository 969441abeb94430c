"""Header and idle timeouts and the connection limit, over real sockets to a served app.

The app is served in this process by uvicorn with exactly the options `serve` passes it
(`server_options(config)`), so the protocol, its timers and uvicorn's limit are the real ones.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn
from litestar import Litestar, get
from litestar.params import FromQuery

from shared.platform.config import ServiceConfig
from shared.platform.connections import server_options

HEAD_TIMEOUT = 0.6
KEEP_ALIVE_TIMEOUT = 1.0
MAX_CONNECTIONS = 3
# How long past a deadline the server may take to close (timer granularity, a busy machine).
SLACK = 1.5
REQUEST = b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n"


@get("/slow")
async def slow(delay: FromQuery[float] = 0.0) -> dict[str, str]:
    await asyncio.sleep(delay)
    return {"status": "ok"}


@dataclass(frozen=True)
class Served:
    port: int


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    config = ServiceConfig(
        database_url="postgresql://unused",
        http_header_timeout=HEAD_TIMEOUT,
        http_keep_alive_timeout=KEEP_ALIVE_TIMEOUT,
        http_max_connections=MAX_CONNECTIONS,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            Litestar([slow]),
            host="127.0.0.1",
            port=0,
            log_level="error",
            lifespan="off",
            **server_options(config),
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Served(port)
    server.should_exit = True
    await task


async def _connect(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", served.port)


async def _seconds_until_closed(reader: asyncio.StreamReader, limit: float) -> float:
    """How long until the server closes the connection; what it sent before is ignored."""
    started = time.monotonic()
    try:
        while await asyncio.wait_for(reader.read(65536), limit):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes = REQUEST
) -> int:
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return int(head[9:12])


async def test_half_a_request_head_is_closed_at_the_head_timeout(served: Served) -> None:
    reader, writer = await _connect(served)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: te")

    waited = await _seconds_until_closed(reader, HEAD_TIMEOUT + SLACK)

    assert HEAD_TIMEOUT * 0.8 <= waited < HEAD_TIMEOUT + SLACK
    writer.close()


async def test_a_head_sent_a_byte_at_a_time_is_closed_at_the_head_timeout(served: Served) -> None:
    reader, writer = await _connect(served)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in b"GET /slow HTTP/1.1\r\nHost: test\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaa":
            writer.write(bytes([byte]))
            await asyncio.sleep(HEAD_TIMEOUT / 4)

    sender = asyncio.create_task(trickle())
    await _seconds_until_closed(reader, HEAD_TIMEOUT + SLACK)
    sender.cancel()

    assert time.monotonic() - started < HEAD_TIMEOUT + SLACK
    writer.close()


async def test_a_connection_that_sends_nothing_is_closed_at_the_head_timeout(
    served: Served,
) -> None:
    reader, writer = await _connect(served)

    waited = await _seconds_until_closed(reader, HEAD_TIMEOUT + SLACK)

    assert waited < HEAD_TIMEOUT + SLACK
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not(
    served: Served,
) -> None:
    reader, writer = await _connect(served)
    # A handler slower than the head timeout still answers: the head's clock stopped with it.
    slow_request = b"GET /slow?delay=1.0 HTTP/1.1\r\nHost: test\r\n\r\n"
    assert await _exchange(reader, writer, slow_request) == 200
    # Requests on one connection, spread over longer than the head timeout, each get a fresh one.
    for _ in range(3):
        await asyncio.sleep(HEAD_TIMEOUT / 2)
        assert await _exchange(reader, writer) == 200

    waited = await _seconds_until_closed(reader, KEEP_ALIVE_TIMEOUT + SLACK)

    assert KEEP_ALIVE_TIMEOUT * 0.8 <= waited < KEEP_ALIVE_TIMEOUT + SLACK
    writer.close()


async def test_requests_beyond_the_connection_limit_get_503_at_once(served: Served) -> None:
    held = [await _connect(served) for _ in range(MAX_CONNECTIONS)]
    for _, writer in held:
        writer.write(b"GET /slow HTTP/1.1\r\n")  # half a head: held until the head timeout
    reader, writer = await _connect(served)

    started = time.monotonic()
    status = await _exchange(reader, writer)
    answered_in = time.monotonic() - started
    closed_in = await _seconds_until_closed(reader, 1.0)
    for held_reader, _ in held:
        await _seconds_until_closed(held_reader, HEAD_TIMEOUT + SLACK)
    again, writer_again = await _connect(served)
    status_after = await _exchange(again, writer_again)

    assert status == 503
    assert answered_in < 0.5
    assert closed_in < 0.5
    assert status_after == 200
    for _, held_writer in [*held, (reader, writer), (again, writer_again)]:
        held_writer.close()
