"""The messages a consumer holds, kept alive so JetStream does not redeliver them meanwhile.

A message is held from the fetch that delivered it until it is acked, naked or terminated. While
held, whatever it waits on (an outage, a lock, the batch ahead of it), JetStream hears every third
of `ack_wait` that it is still being worked on (`+WPI`), so it neither redelivers it behind the
consumer's back nor counts another delivery against `max_deliver`.
"""

import asyncio
import contextlib
from collections.abc import Iterable

import nats.errors
from nats.aio.msg import Msg


class HeldMessages:
    def __init__(self, ack_wait: float) -> None:
        self._interval = ack_wait / 3
        # By id(): nats-py messages are unhashable dataclasses. (when fetched, the message)
        self._held: dict[int, tuple[float, Msg]] = {}

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, messages: Iterable[Msg]) -> None:
        now = asyncio.get_running_loop().time()
        self._held.update((id(message), (now, message)) for message in messages)

    async def ack_batch(self, messages: Iterable[Msg]) -> None:
        """Ack a committed batch: one `+ACK` publish per message and no reply awaited (nats-py's
        `ack` is a plain publish; `ack_sync` would wait a round trip each). The client's flusher
        writes the queued acks together, one socket write for the batch.

        One ack-all for the last message would be fewer still, but it also acks every earlier
        message still pending on the durable: a message naked to wait (`RetryLater`), or one a
        batch in flight beside it still holds (`max_in_flight` > 1), would be lost."""
        for message in messages:
            self._held.pop(id(message), None)
            await message.ack()

    async def nak(self, message: Msg, delay: float | None = None) -> None:
        self._held.pop(id(message), None)
        await message.nak(delay=delay)

    async def term(self, message: Msg) -> None:
        self._held.pop(id(message), None)
        await message.term()

    async def keep_alive(self) -> None:
        """Runs until cancelled: tell JetStream about every message held an interval or longer."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            since = loop.time() - self._interval
            for fetched_at, message in list(self._held.values()):
                if fetched_at <= since:
                    with contextlib.suppress(nats.errors.Error):
                        await message.in_progress()
