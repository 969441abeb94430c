"""A PostgreSQL of the fault tests' own, which they shut down and start again like an operator.

The session's shared server is never touched: other tests hold connections to it. This cluster
lives in a scratch directory, keeps its data across restarts and comes back on the same port, so
pools pointed at it reconnect by themselves.

An outage goes the way a real restart does, and shows every face of "PostgreSQL unavailable":
a smart shutdown first (open sessions still work; new connections get 57P03 "the database system
is shutting down"), then a fast one (open sessions end with 57P01 admin_shutdown), then nothing
listening (connection refused), then a start (57P03 "the database system is starting up" until
recovery ends, briefly).
"""

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from devtools.embedded import EmbeddedPostgres
from tests.support.polling import eventually


@dataclass
class RestartablePostgres(EmbeddedPostgres):
    def begin_shutdown(self) -> None:
        """Smart shutdown: no new connections (57P03); open sessions go on."""
        self._signal(signal.SIGTERM)

    def shut_down_now(self) -> None:
        """Fast shutdown: open sessions are ended (57P01), then the server exits."""
        self._signal(signal.SIGINT)
        if self._process is not None:
            self._process.wait(30)

    def _signal(self, number: signal.Signals) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(number)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


async def _new_connection_error(url: str) -> BaseException | None:
    try:
        connection = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError) as error:
        return error
    await connection.close()
    return None


@contextlib.asynccontextmanager
async def postgres_down(server: RestartablePostgres) -> AsyncIterator[None]:
    """Shut `server` down as an operator's restart does; start it again on leaving the block.

    A session of its own keeps the smart shutdown from finishing at once, so the block is only
    entered once a new connection has been refused with 57P03.
    """
    holder = await asyncpg.connect(server.url)
    server.begin_shutdown()
    refused = await eventually(
        lambda: _new_connection_error(server.url),
        lambda error: isinstance(error, asyncpg.exceptions.CannotConnectNowError),
    )
    assert "shutting down" in str(refused)
    await asyncio.to_thread(server.shut_down_now)
    holder.terminate()
    try:
        yield
    finally:
        await asyncio.to_thread(server.start)
