"""A durable JetStream pull consumer that hands decoded batches to a handler.

Contract with the handler: it commits its effects (and its checkpoint) in one transaction and
returns; only then are the messages acked. A message that cannot be decoded is poison: it is
published to a dead-letter subject with the reason and terminated. A handler error that is
transient naks the whole batch with a delay, so JetStream redelivers it; the handler's effects
must therefore be idempotent (the projector and the notifier key everything by event ids).

With `max_in_flight` > 1, up to that many batches are handled at once, each acked after its own
commit, so a handler waiting on its database no longer holds up the next batch. The handler must
then keep concurrent batches apart itself (the projector locks the student-standards it touches),
and a batch the handler marks `runs_alone` waits for every batch before it and holds back every
batch after it.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, PoisonMessage
from shared.platform.bus import BusNames, connect_with_retry, ensure_streams
from shared.platform.retry import retry_until_stopped, sleep_unless_stopped
from shared.platform.supervisor import LAG_PROBE_TIMEOUT, LagUnavailable

logger = logging.getLogger(__name__)

EventT = TypeVar("EventT")

REASON_HEADER = "Deadletter-Reason"
ORIGINAL_SUBJECT_HEADER = "Deadletter-Subject"
ORIGINAL_SEQUENCE_HEADER = "Deadletter-Stream-Sequence"


class RetryLater(Exception):
    """The handler cannot apply this batch yet (it needs an event not yet delivered): nak it."""


TRANSIENT_ERRORS = (
    RetryLater,
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


@dataclass(frozen=True, slots=True)
class Delivered(Generic[EventT]):
    envelope: CloudEvent[EventT]
    stream_sequence: int


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    nats_url: str
    bus: BusNames
    stream: str
    filter_subject: str
    durable: str
    batch_size: int = 200
    fetch_timeout: float = 0.5
    ack_wait: float = 30.0
    max_deliver: int = 10
    nak_delay: float = 1.0
    max_in_flight: int = 1


Handler = Callable[[Sequence[Delivered[EventT]]], Awaitable[None]]
RunsAlone = Callable[[Sequence[Delivered[EventT]]], bool]


def _never_alone(batch: Sequence[Delivered[EventT]]) -> bool:
    return False


class BatchConsumer(Generic[EventT]):
    def __init__(
        self,
        settings: ConsumerSettings,
        codec: EnvelopeCodec[EventT],
        handle: Handler[EventT],
        *,
        runs_alone: RunsAlone[EventT] = _never_alone,
    ) -> None:
        if settings.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {settings.max_in_flight}")
        self._settings = settings
        self._codec = codec
        self._handle = handle
        self._runs_alone = runs_alone
        self._in_flight: set[asyncio.Task[None]] = set()
        self._client: NatsClient | None = None
        self.processed = 0
        self.deadlettered = 0

    async def run(self, stop: asyncio.Event) -> None:
        client = await connect_with_retry(self._settings.nats_url, self._settings.durable, stop)
        if client is None:
            return
        self._client = client
        try:
            while not stop.is_set():
                subscription = await self._subscribe(client, stop)
                if subscription is None:
                    return
                await self._consume(client, subscription, stop)
        finally:
            # Every fetched batch was acked or naked; a pull subscription has nothing to drain,
            # and nats-py's drain would wait out its timeout on it. Flush the acks and close.
            self._client = None
            await _flush_and_close(client)

    async def _subscribe(
        self, client: NatsClient, stop: asyncio.Event
    ) -> JetStreamContext.PullSubscription | None:
        """Declare streams and bind the durable consumer; retried, since NATS may be restarting."""
        js = client.jetstream()
        config = ConsumerConfig(
            durable_name=self._settings.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._settings.ack_wait,
            max_deliver=self._settings.max_deliver,
            max_ack_pending=self._settings.batch_size * 20,
            filter_subject=self._settings.filter_subject,
        )

        async def bind() -> JetStreamContext.PullSubscription:
            await ensure_streams(js, self._settings.bus)
            # Create or update: pull_subscribe alone binds an existing durable as it is, so
            # a consumer whose filter changed between releases would silently keep the old one.
            await js.add_consumer(self._settings.stream, config=config)
            return await js.pull_subscribe(
                self._settings.filter_subject,
                durable=self._settings.durable,
                stream=self._settings.stream,
                config=config,
            )

        return await retry_until_stopped(
            stop,
            bind,
            transient=(TimeoutError, nats.errors.Error),
            what=f"{self._settings.durable}: binding the consumer",
        )

    async def lag(self) -> dict[str, int]:
        """Messages the durable has not settled: not yet delivered plus delivered and unacked."""
        client = self._client
        if client is None or not client.is_connected:
            raise LagUnavailable(f"{self._settings.durable}: not connected to NATS")
        info = await client.jetstream().consumer_info(
            self._settings.stream, self._settings.durable, timeout=LAG_PROBE_TIMEOUT
        )
        return {"consumer_pending": (info.num_pending or 0) + (info.num_ack_pending or 0)}

    async def _consume(
        self,
        client: NatsClient,
        subscription: JetStreamContext.PullSubscription,
        stop: asyncio.Event,
    ) -> None:
        """Fetch the next batch while this one is handled; start batches in stream order.

        With `max_in_flight` 1, batches are handled one at a time; above it, up to that many at
        once. Each is acked after its own commit. On stop, a batch fetched meanwhile is handled
        too, and every batch in flight finishes, so nothing is left waiting out its ack_wait.
        """
        next_batch: asyncio.Task[list[Msg]] | None = None
        try:
            while not stop.is_set():
                fetching = next_batch or asyncio.create_task(self._fetch(subscription))
                next_batch = None
                try:
                    messages = await fetching
                except TimeoutError:
                    continue  # idle: nothing to fetch
                except nats.errors.Error as error:
                    # After a server restart the subscription may be gone: rebind.
                    logger.warning(
                        "%s: fetch failed (%s); rebinding", self._settings.durable, error
                    )
                    await sleep_unless_stopped(stop, 0.5)
                    return
                if not stop.is_set():
                    next_batch = asyncio.create_task(self._fetch(subscription))
                await self._start(client, messages)
            if next_batch is not None:
                with contextlib.suppress(TimeoutError, nats.errors.Error):
                    await self._start(client, await next_batch)
                next_batch = None
            await self._settle(wait_for=0)
        finally:
            if next_batch is not None:
                next_batch.cancel()
                if next_batch.done() and not next_batch.cancelled():
                    next_batch.exception()  # retrieved: its messages will be redelivered
            if self._in_flight:
                # They ack or nak what they hold; what they hold and did not settle is redelivered.
                results = await asyncio.gather(*self._in_flight, return_exceptions=True)
                self._in_flight.clear()
                for failure in (result for result in results if isinstance(result, Exception)):
                    logger.error(
                        "%s: a batch in flight failed: %r", self._settings.durable, failure
                    )

    async def _start(self, client: NatsClient, messages: list[Msg]) -> None:
        """Handle a batch now, or as a task beside the ones in flight when the handler allows."""
        batch, deliverable = await self._decode(client, messages)
        if not batch:
            return
        if self._settings.max_in_flight == 1 or self._runs_alone(batch):
            await self._settle(wait_for=0)
            await self._handle_batch(client, batch, deliverable)
            return
        await self._settle(wait_for=self._settings.max_in_flight - 1)
        self._in_flight.add(asyncio.create_task(self._handle_batch(client, batch, deliverable)))

    async def _settle(self, *, wait_for: int) -> None:
        """Wait until at most `wait_for` batches are in flight; a failure among them is raised."""
        while True:
            for task in [task for task in self._in_flight if task.done()]:
                self._in_flight.discard(task)
                task.result()
            if len(self._in_flight) <= wait_for:
                return
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def _fetch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        return await subscription.fetch(
            self._settings.batch_size, timeout=self._settings.fetch_timeout
        )

    async def process(self, client: NatsClient, messages: list[Msg]) -> None:
        """Decode, handle and ack (or nak) one batch now."""
        batch, deliverable = await self._decode(client, messages)
        if batch:
            await self._handle_batch(client, batch, deliverable)

    async def _decode(
        self, client: NatsClient, messages: list[Msg]
    ) -> tuple[list[Delivered[EventT]], list[Msg]]:
        """The batch's events with their messages; poison is dead-lettered on the way."""
        batch: list[Delivered[EventT]] = []
        deliverable: list[Msg] = []
        for message in messages:
            try:
                envelope = self._codec.decode(message.data)
            except PoisonMessage as poison:
                await self._deadletter(client, message, str(poison))
                continue
            batch.append(Delivered(envelope, stream_sequence(message)))
            deliverable.append(message)
        return batch, deliverable

    async def _handle_batch(
        self, client: NatsClient, batch: list[Delivered[EventT]], messages: list[Msg]
    ) -> None:
        try:
            await self._handle(batch)
        except TRANSIENT_ERRORS as error:
            logger.warning("%s: batch failed (%s); redelivering", self._settings.durable, error)
            for message in messages:
                await message.nak(delay=self._settings.nak_delay)
            return
        except Exception as error:  # noqa: BLE001 - isolated below, then dead-lettered
            await self._isolate_failure(client, batch, messages, error)
            return
        for message in messages:
            await message.ack()
        self.processed += len(batch)

    async def _isolate_failure(
        self,
        client: NatsClient,
        batch: list[Delivered[EventT]],
        messages: list[Msg],
        error: Exception,
    ) -> None:
        """A handler bug on one event must not stall the stream: retry one by one, then park it."""
        if len(batch) == 1:
            reason = f"handler failed: {type(error).__name__}: {error}"
            await self._deadletter(client, messages[0], reason)
            return
        for delivered, message in zip(batch, messages, strict=True):
            await self._handle_batch(client, [delivered], [message])

    async def _deadletter(self, client: NatsClient, message: Msg, reason: str) -> None:
        logger.error("%s: dead-lettering %s: %s", self._settings.durable, message.subject, reason)
        await client.jetstream().publish(
            self._settings.bus.deadletter(self._settings.durable),
            message.data,
            headers={
                REASON_HEADER: reason,
                ORIGINAL_SUBJECT_HEADER: message.subject,
                ORIGINAL_SEQUENCE_HEADER: str(message.metadata.sequence.stream),
            },
        )
        await message.term()
        self.deadlettered += 1


def stream_sequence(message: Msg) -> int:
    """The message's sequence in its stream, read off its ack subject.

    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`: this
    reads the one token the projector needs, where nats-py's `metadata` also builds a timestamp
    and three objects per message. Any other form goes through `metadata`.
    """
    tokens = (message.reply or "").split(".")
    if len(tokens) == _ACK_V1_TOKENS and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[5])
    return message.metadata.sequence.stream


_ACK_V1_TOKENS = 9


async def _flush_and_close(client: NatsClient) -> None:
    with contextlib.suppress(TimeoutError, nats.errors.Error):
        await client.flush(timeout=2)
    await client.close()
