"""The relay stores each batch as one JetStream atomic batch, and falls back to publishing message
by message when the bus refuses the batch or takes none (shared/platform/atomic_batch.py).

The failure this guards against: with `sync_interval: always` every message a relay published was
written to disk on its own, which capped a relay at a few thousand events a second on the bench's
disk; and a batch refused for a message the bus already held (sent again after a crash) must not
stall the relay.
"""

import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared.platform.bus import BusNames, ensure_streams
from shared.platform.outbox import OutboxRelay
from tests.support.change_log_relay import enqueue, relay_of, stream_payloads, unpublished
from tests.support.servers import Servers

PAYLOADS = [b"payload-1", b"payload-2", b"payload-3"]


async def _message_ids(js: JetStreamContext, bus: BusNames) -> list[str]:
    info = await js.stream_info(bus.mastery_stream)
    found = []
    for sequence in range(1, info.state.last_seq + 1):
        message = await js.get_msg(bus.mastery_stream, sequence)
        found.append((message.headers or {}).get("Nats-Msg-Id", ""))
    return found


@pytest.fixture
async def admin(servers: Servers) -> AsyncIterator[NatsClient]:
    client = await nats.connect(servers.nats_url)
    yield client
    await client.close()


async def three_rows_and_a_relay(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames
) -> OutboxRelay:
    """Three rows in the change log, and a relay that has published none of them."""
    for n in (1, 2, 3):
        await enqueue(pool, bus, n)
    return relay_of(pool, servers.nats_url, bus)


async def test_a_batch_is_stored_as_one_with_each_message_id(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames, admin: NatsClient
) -> None:
    js = admin.jetstream()
    await ensure_streams(js, bus)
    relay = await three_rows_and_a_relay(pool, servers, bus)
    assert await relay.relay_once(js, client=admin) == 3
    assert relay.atomic_batches == 1
    assert await stream_payloads(js, bus) == PAYLOADS
    assert await _message_ids(js, bus) == ["msg-1", "msg-2", "msg-3"]
    assert await unpublished(pool) == 0


async def test_a_batch_the_bus_holds_in_part_goes_out_message_by_message(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames, admin: NatsClient
) -> None:
    js = admin.jetstream()
    await ensure_streams(js, bus)
    relay = await three_rows_and_a_relay(pool, servers, bus)
    # A relay published the first message and crashed before it moved its position.
    await js.publish(bus.mastery_changed("school"), b"payload-1", headers={"Nats-Msg-Id": "msg-1"})
    assert await relay.relay_once(js, client=admin) == 3
    assert relay.atomic_batches == 0  # refused as one: it holds msg-1
    assert relay.atomic  # the next batch is tried as one again
    assert await stream_payloads(js, bus) == PAYLOADS  # each once, in order
    assert await unpublished(pool) == 0


async def test_a_stream_that_takes_no_atomic_batches_gets_its_messages_one_by_one(
    pool: asyncpg.Pool, servers: Servers, bus: BusNames, admin: NatsClient
) -> None:
    js = admin.jetstream()
    [changes] = [config for config in bus.stream_configs() if config.name == bus.mastery_stream]
    await js.add_stream(dataclasses.replace(changes, allow_atomic=False))
    relay = await three_rows_and_a_relay(pool, servers, bus)
    assert await relay.relay_once(js, client=admin) == 3
    assert not relay.atomic  # it says so in the log, once, and stops trying
    await enqueue(pool, bus, 4)
    await enqueue(pool, bus, 5)
    assert await relay.relay_once(js, client=admin) == 2
    assert relay.atomic_batches == 0
    assert await stream_payloads(js, bus) == [*PAYLOADS, b"payload-4", b"payload-5"]
