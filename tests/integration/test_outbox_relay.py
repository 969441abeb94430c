"""The relay against real PostgreSQL and nats-server: horizon order, its kept position, waking on
NOTIFY, and NATS outages. The log here is the mastery change log, whose rows hold their messages;
the attempts log's relay is the same code reading attempt_events."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import nats
import pytest

from devtools.embedded import EmbeddedNats
from shared.platform.bus import BusNames, ensure_streams
from shared.platform.outbox import OutboxRelay
from tests.support.change_log_relay import LOG_ROW, enqueue, relay_of, stream_payloads, unpublished
from tests.support.polling import eventually
from tests.support.servers import Servers


async def test_a_row_that_commits_late_is_neither_skipped_nor_overtaken(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    relay = relay_of(pool, servers.nats_url, bus)
    early = await pool.acquire()
    try:
        slow = early.transaction()
        await slow.start()
        await enqueue(early, bus, 1)  # lower position, still uncommitted
        await enqueue(pool, bus, 2)  # higher position, committed first
        assert await relay.relay_once(js) == 0  # row 2 is above the horizon while 1 is open
        await slow.commit()
        assert await relay.relay_once(js) == 2
    finally:
        await pool.release(early)
    assert await stream_payloads(js, bus) == [b"payload-1", b"payload-2"]
    assert await unpublished(pool) == 0
    assert await pool.fetchval("SELECT count(*) FROM mastery_changes") == 2  # the log keeps them
    await client.close()


async def test_the_relay_resumes_from_the_position_it_kept(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    for n in (1, 2):
        await enqueue(pool, bus, n)
    assert await relay_of(pool, servers.nats_url, bus).relay_once(js) == 2
    await enqueue(pool, bus, 3)
    again = relay_of(pool, servers.nats_url, bus)  # a restarted relay
    assert await again.relay_once(js) == 1
    assert await again.relay_once(js) == 0
    assert await stream_payloads(js, bus) == [b"payload-1", b"payload-2", b"payload-3"]
    await client.close()


async def test_a_transaction_that_logs_wakes_the_relay_long_before_its_poll(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames
) -> None:
    relay = relay_of(pool, servers.nats_url, bus, poll_interval=60.0)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await eventually(_asleep_and_not_looking(pool, relay), bool)
        await enqueue(pool, bus, 1)
        await eventually(lambda: _value(relay.published), lambda count: count == 1, within=5)
        async with pool.acquire() as connection, connection.transaction():
            for n in (2, 3, 4):  # one notification for the transaction
                await enqueue(connection, bus, n)
        await eventually(lambda: _value(relay.published), lambda count: count == 4, within=5)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_writers_do_not_notify_while_the_relay_is_awake(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames
) -> None:
    """A notifying transaction commits alone (a database-wide lock): only an idle relay asks."""
    listener = await pool.acquire()
    heard: list[str] = []

    def hear(_connection: object, _pid: int, channel: str, _payload: object) -> None:
        heard.append(channel)

    await listener.add_listener("mastery_changes", hear)
    try:
        await enqueue(pool, bus, 1)  # no relay has marked itself asleep
        await pool.execute("UPDATE mastery_changes_relayed SET relay_asleep = true")
        await enqueue(pool, bus, 2)
        await eventually(lambda: _value(len(heard)), lambda count: count == 1)
    finally:
        await listener.remove_listener("mastery_changes", hear)
        await pool.release(listener)


def _asleep_and_not_looking(
    pool: asyncpg.Pool, relay: OutboxRelay
) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        marked = await pool.fetchval("SELECT relay_asleep FROM mastery_changes_relayed")
        await asyncio.sleep(0.2)  # past its grace looks
        return bool(marked) and relay.asleep

    return probe


async def test_rows_written_while_nats_is_down_are_published_when_it_returns(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server = EmbeddedNats(Path(scratch)).start()
        relay = relay_of(pool, server.url, bus)
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await enqueue(pool, bus, 1)
            await eventually(lambda: _value(relay.published), lambda count: count == 1)
            server.stop()
            for n in (2, 3):
                await enqueue(pool, bus, n)
            await asyncio.sleep(0.5)
            assert relay.published == 1
            assert await unpublished(pool) == 2
            server = EmbeddedNats(
                Path(scratch), port=server.port, admin_secret=server.admin_secret
            ).start()
            await eventually(lambda: _value(relay.published), lambda count: count == 3, within=20)
            client = await nats.connect(server.url)
            payloads = await stream_payloads(client.jetstream(), bus)
            await client.close()
            assert payloads == [b"payload-1", b"payload-2", b"payload-3"]
        finally:
            stop.set()
            await running
            server.stop()


async def _value(value: int) -> int:
    return value


@pytest.mark.parametrize(
    "statement", ["UPDATE attempt_events SET data = '{}'", "DELETE FROM attempt_events"]
)
async def test_events_cannot_be_changed_or_deleted(pool: asyncpg.Pool, statement: str) -> None:
    await pool.execute(
        "INSERT INTO attempt_events (tenant_id, stream_id, stream_version, event_id, event_type, "
        "data, recorded_at) VALUES ('t', 't/s/x', 1, gen_random_uuid(), 'x', '{}', now())"
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute(statement)


async def test_a_row_the_bus_refuses_for_good_is_parked_and_the_rows_after_it_go_out(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    await enqueue(pool, bus, 1)
    await pool.execute(
        LOG_ROW,
        "hostile",
        bus.mastery_changed("hostile"),
        "msg-too-large",
        b"x" * (client.max_payload + 1),
        2,
    )
    await enqueue(pool, bus, 3)
    relay = relay_of(pool, servers.nats_url, bus)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await eventually(lambda: _value(relay.published), lambda count: count == 3)
        assert not running.done()
        await enqueue(pool, bus, 4)
        await eventually(lambda: _value(relay.published), lambda count: count == 4)
    finally:
        stop.set()
        await running
    assert relay.parked == 1
    assert await stream_payloads(js, bus) == [b"payload-1", b"payload-3", b"payload-4"]
    parked = await js.get_last_msg(bus.deadletter_stream, bus.deadletter("relay"))
    assert parked.headers is not None
    assert parked.headers["Deadletter-Msg-Id"] == "msg-too-large"
    assert parked.headers["Deadletter-Subject"] == bus.mastery_changed("hostile")
    assert "MaxPayload" in parked.headers["Deadletter-Reason"]
    assert await unpublished(pool) == 0
    await client.close()
