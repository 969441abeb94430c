"""Waking a worker on PostgreSQL LISTEN/NOTIFY instead of polling while idle.

A trigger on the worker's table sends `NOTIFY <channel>` from each transaction that writes rows
it should look at (PostgreSQL folds identical notifications of one transaction into one). The
worker sleeps until one arrives or `poll_interval` passes: the slow poll is the safety net for what
no notification announces (a due time passing, a connection lost and its notifications with it).
"""

import asyncio
import logging
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.platform.errors import is_transient
from shared.platform.postgres import DbConnection

PooledConnection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

logger = logging.getLogger(__name__)


class Wakeup:
    """Holds one pooled connection that LISTENs on `channel`, taken again if it was lost."""

    def __init__(self, pool: asyncpg.Pool, channel: str, poll_interval: float) -> None:
        self._pool = pool
        self._channel = channel
        self._poll_interval = poll_interval
        self._connection: PooledConnection | None = None
        self._woken = asyncio.Event()

    def notified(self, _connection: object, _pid: int, _channel: str, _payload: object) -> None:
        self._woken.set()

    async def sleep(self, stop: asyncio.Event, at_most: float | None = None) -> None:
        """Until a notification (or one arrived since the last sleep), `stop`, or the poll."""
        await self._listen()
        timeout = self._poll_interval if at_most is None else min(at_most, self._poll_interval)
        stopped = asyncio.ensure_future(stop.wait())
        woken = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait(
                (stopped, woken), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopped.cancel()
            woken.cancel()
        self._woken.clear()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not closed(connection):
                await connection.remove_listener(self._channel, self.notified)
        except Exception as error:
            if not closed(connection):
                connection.terminate()
            if not is_transient(error):
                raise
        finally:
            await self._pool.release(connection)  # nothing to do for a detached one

    async def _listen(self) -> None:
        if self._connection is not None and not closed(self._connection):
            return
        if self._connection is not None:
            await self.close()
        try:
            connection: PooledConnection = await self._pool.acquire()
        except Exception as error:
            if not is_transient(error):
                raise
            return  # the poll stands in until PostgreSQL is back
        try:
            await connection.add_listener(self._channel, self.notified)
        except Exception as error:
            await self._pool.release(connection)
            if not is_transient(error):
                raise
            return
        self._connection = connection
        # Whatever was written before LISTEN took effect is for the next look to find.
        self._woken.set()


def closed(connection: DbConnection) -> bool:
    """Whether the connection is gone: closed, or (lost while borrowed) detached from its pool
    proxy, whose every method then raises."""
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        return True
