"""Revocation on every instance at once: each process LISTENs for changed keys and drops them.

Migration `shared/002` announces a changed key (revoked, relabelled, deleted) on `api_keys_changed`
when its transaction commits. Each service process listens on a connection of its own, not one
of the pool's: pooled connections are released without `UNLISTEN` (`keep_session`), so a LISTEN
would follow whichever request borrowed the connection next. While the connection is down the
listener reconnects (`retry_until_stopped`) and the cache's TTL bounds how long a revoked key
keeps working; on each (re)connect the cache is emptied, since a change may have been missed.
"""

import asyncio
from typing import TypeAlias

import asyncpg

from shared.platform.auth import KeyCache
from shared.platform.postgres import CONNECT_TIMEOUT_SECONDS
from shared.platform.retry import retry_until_stopped
from shared.platform.supervisor import LagUnavailable, NamedWorker

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record]"

KEYS_CHANGED_CHANNEL = "api_keys_changed"
# How the listening session shows in pg_stat_activity.
APPLICATION_NAME = "mastery-key-listener"
# A connection that silently stopped answering (a host gone, not a server restarted) is found
# out by a query this often, and replaced.
HEARTBEAT_SECONDS = 5.0


class KeyChangeListener:
    def __init__(
        self,
        dsn: str,
        cache: KeyCache,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        retry_delay: float = 0.2,
        retry_max_delay: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._cache = cache
        self._heartbeat = heartbeat
        self._retry = (retry_delay, retry_max_delay)
        self.listening = False

    def worker(self) -> NamedWorker:
        return NamedWorker("keys", self.run, self.lag)

    async def run(self, stop: asyncio.Event) -> None:
        delay, max_delay = self._retry
        await retry_until_stopped(
            stop,
            lambda: self._listen(stop),
            what="API keys: listening for changes on PostgreSQL",
            delay=delay,
            max_delay=max_delay,
        )

    async def lag(self) -> dict[str, float]:
        if not self.listening:
            raise LagUnavailable(
                "not listening for key changes: a revoked key works until its cache entry expires"
            )
        return {"cached_keys": float(len(self._cache))}

    async def _listen(self, stop: asyncio.Event) -> None:
        connection = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        try:
            await connection.add_listener(KEYS_CHANGED_CHANNEL, self._changed)
            self._cache.forget_all()
            self.listening = True
            await self._watch(connection, lost, stop)
        finally:
            self.listening = False
            await _close(connection)

    async def _watch(
        self, connection: Connection, lost: asyncio.Event, stop: asyncio.Event
    ) -> None:
        while not await _first_set(stop, lost, within=self._heartbeat):
            await asyncio.wait_for(connection.fetchval("SELECT 1"), self._heartbeat)
        if lost.is_set() and not stop.is_set():
            raise asyncpg.exceptions.ConnectionDoesNotExistError("the LISTEN connection closed")

    def _changed(self, _connection: object, _pid: int, _channel: str, key_id: object) -> None:
        if key_id:
            self._cache.forget(str(key_id))
        else:
            self._cache.forget_all()


async def _first_set(*events: asyncio.Event, within: float) -> bool:
    """Wait until one of the events is set or `within` seconds pass; whether one is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return any(event.is_set() for event in events)


async def _close(connection: Connection) -> None:
    if connection.is_closed():
        return
    try:
        await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, asyncpg.InterfaceError):
        connection.terminate()
