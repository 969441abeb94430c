"""An idle consumer waits in one long pull: it wakes for the first message, and stops at once."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import nats

from shared.contract.events.gradebook import LatestGradebookEvent
from shared.platform.bus import BusNames, ensure_streams
from shared.platform.consumer import BatchConsumer, ConsumerSettings, Delivered
from tests.integration.test_consumer_prefetch import CODEC
from tests.integration.test_consumers import _attempt_envelope
from tests.support.polling import eventually
from tests.support.servers import Servers

T = TypeVar("T")
IDLE_WAIT = 60.0  # far longer than any wait below: reaching it would fail the test


async def test_an_idle_consumer_wakes_for_the_first_message_and_stops_without_waiting(
    servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    handled: list[str] = []

    async def handle(batch: Sequence[Delivered[LatestGradebookEvent]]) -> None:
        handled.extend(item.envelope.id for item in batch)

    settings = ConsumerSettings(
        nats_url=servers.nats_url, bus=bus, stream=bus.attempts_stream,
        filter_subject=bus.all_attempts(), durable="idle-test", fetch_timeout=0.2,
        idle_wait=IDLE_WAIT,
    )  # fmt: skip
    consumer = BatchConsumer(settings, CODEC, handle)
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    await eventually(_returns(lambda: consumer.idle_waits), lambda waits: waits == 1)

    envelope = _attempt_envelope("school", 3)
    await js.publish(bus.attempts("school", "recorded"), CODEC.encode(envelope))
    await eventually(_returns(lambda: list(handled)), lambda ids: ids == [envelope.id], within=5)
    # Handled, the batch fetched behind it finds nothing, and it waits again.
    await eventually(_returns(lambda: consumer.idle_waits), lambda waits: waits == 2)

    asked_to_stop = time.monotonic()
    stop.set()
    await asyncio.wait_for(running, 5)
    assert time.monotonic() - asked_to_stop < 5
    assert consumer.processed == 1
    assert consumer.idle_waits == 2  # no pull ran out meanwhile
    info = await js.consumer_info(bus.attempts_stream, "idle-test")
    assert (info.num_ack_pending, info.num_pending) == (0, 0)
    await client.close()


def _returns(value: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def probe() -> T:
        return value()

    return probe
