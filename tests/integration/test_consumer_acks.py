"""A committed batch is acked without a round trip per message: the acks are publishes the
client's flusher writes together, and no reply is awaited."""

import nats

from shared.platform.bus import BusNames
from shared.platform.held import HeldMessages
from tests.integration.test_consumer_prefetch import published_attempts
from tests.support.polling import eventually
from tests.support.servers import Servers


async def test_a_batch_is_acked_with_publishes_alone_and_the_server_applies_every_ack(
    servers: Servers, bus: BusNames
) -> None:
    client = await nats.connect(servers.nats_url)
    js = client.jetstream()
    await published_attempts(js, bus, 20)
    subscription = await js.pull_subscribe(
        bus.all_attempts(), durable="ack-batch-test", stream=bus.attempts_stream
    )
    messages = await subscription.fetch(20, timeout=5)
    held = HeldMessages(ack_wait=30)
    held.hold(messages)
    sent, received = client.stats["out_msgs"], client.stats["in_msgs"]

    await held.ack_batch(messages)

    assert len(held) == 0
    assert client.stats["out_msgs"] - sent == 20  # one ack each
    assert client.stats["in_msgs"] == received  # and no reply waited for
    info = await eventually(
        lambda: js.consumer_info(bus.attempts_stream, "ack-batch-test"),
        lambda info: info.num_ack_pending == 0,
    )
    assert (info.num_pending, info.delivered.stream_seq) == (0, 20)
    await client.close()
