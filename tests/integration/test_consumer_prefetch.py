"""The consumer fetches the next batch while it handles one; stopping leaves nothing unacked."""

import asyncio
from collections.abc import Sequence

import nats
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from shared.contract.cloudevents import CloudEvent, EnvelopeCodec
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.platform.bus import BusNames, ensure_streams
from shared.platform.consumer import BatchConsumer, ConsumerSettings, Delivered, stream_sequence
from tests.integration.test_consumers import _attempt_envelope
from tests.support.polling import eventually
from tests.support.servers import Servers

CODEC = EnvelopeCodec[LatestGradebookEvent](LatestGradebookEvent)


async def published_attempts(
    js: JetStreamContext, bus: BusNames, count: int
) -> list[CloudEvent[LatestGradebookEvent]]:
    """`count` attempts of one stream (versions 1, 2, ...), published in order."""
    await ensure_streams(js, bus)
    sent = [_attempt_envelope("school", 3, version=version) for version in range(1, count + 1)]
    for envelope in sent:
        await js.publish(bus.attempts("school", "recorded"), CODEC.encode(envelope))
    return sent


async def test_handled_in_order_and_a_batch_fetched_before_stop_is_handled_and_acked(
    servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    sent = await published_attempts(js, bus, 8)
    stop = asyncio.Event()
    handled: list[str] = []

    async def handle(batch: Sequence[Delivered[LatestGradebookEvent]]) -> None:
        await asyncio.sleep(0.2)  # the next fetch completes meanwhile
        handled.extend(item.envelope.id for item in batch)
        stop.set()

    settings = ConsumerSettings(
        nats_url=servers.nats_url, bus=bus, stream=bus.attempts_stream,
        filter_subject=bus.all_attempts(), durable="prefetch-test", batch_size=2,
    )  # fmt: skip
    consumer = BatchConsumer(settings, CODEC, handle)
    await asyncio.wait_for(consumer.run(stop), 10)

    assert handled == [envelope.id for envelope in sent[:4]]  # the first batch and the prefetched
    # The acks went out before the consumer closed; the server applies them on its own time.
    counts = await eventually(
        lambda: _pending(js, bus.attempts_stream, "prefetch-test"), lambda counts: counts[0] == 0
    )
    assert counts == (0, 4)
    await client.close()


async def test_a_durable_from_an_older_release_gets_the_new_filter(
    servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await ensure_streams(js, bus)
    # As an earlier release created it: attempts only.
    await js.add_consumer(
        bus.attempts_stream,
        config=ConsumerConfig(durable_name="upgraded", filter_subject=bus.all_attempts("recorded")),
    )
    envelope = _attempt_envelope("school", 3)
    await js.publish(bus.attempts("school", "standard_defined"), CODEC.encode(envelope))
    stop = asyncio.Event()
    handled: list[str] = []

    async def handle(batch: Sequence[Delivered[LatestGradebookEvent]]) -> None:
        handled.extend(item.envelope.id for item in batch)
        stop.set()

    settings = ConsumerSettings(
        nats_url=servers.nats_url, bus=bus, stream=bus.attempts_stream,
        filter_subject=bus.all_attempts(), durable="upgraded", batch_size=2,
    )  # fmt: skip
    await asyncio.wait_for(BatchConsumer(settings, CODEC, handle).run(stop), 10)

    assert handled == [envelope.id]
    info = await js.consumer_info(bus.attempts_stream, "upgraded")
    assert info.config.filter_subject == bus.all_attempts()
    await client.close()


async def test_the_stream_sequence_read_off_the_ack_subject_is_the_one_nats_py_parses(
    servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await published_attempts(js, bus, 3)
    subscription = await js.pull_subscribe(bus.all_attempts(), stream=bus.attempts_stream)
    messages = await subscription.fetch(3, timeout=5)

    assert [stream_sequence(message) for message in messages] == [1, 2, 3]
    assert [stream_sequence(m) for m in messages] == [m.metadata.sequence.stream for m in messages]
    await client.close()


async def _pending(js: JetStreamContext, stream: str, durable: str) -> tuple[int, int]:
    info = await js.consumer_info(stream, durable)
    return info.num_ack_pending or 0, info.num_pending or 0
