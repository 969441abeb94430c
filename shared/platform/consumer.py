"""A durable JetStream pull consumer that hands decoded batches to a handler.

Contract with the handler: it commits its effects (and its checkpoint) in one transaction and
returns; only then are the messages acked. What happens when it does not (`shared.platform.errors`
says which kind a failure is):

- A transient failure (PostgreSQL or NATS unavailable, a serialization failure): the batch is
  tried again in this process, after a pause that doubles up to `retry_max_delay`, for as long as
  the consumer runs. Its messages stay unacked and are kept alive (`in_progress`), so JetStream
  neither redelivers them nor counts a delivery: an outage spends none of a message's
  `max_deliver` budget. With one batch in flight the consumer pauses; nothing is fetched behind it.
- `RetryLater` (the handler needs an event not delivered yet): each message that still waits is
  naked on its own, with a delay that doubles with each delivery, so the events after it go on;
  on its `retry_later_limit`-th delivery it is dead-lettered with the reason instead.
- Any other failure is the message's own: the batch is retried message by message and the one
  that fails alone is dead-lettered with the reason and terminated. So is an undecodable message,
  and one whose event names another tenant than its subject (`shared.platform.delivery`).
- A message JetStream stops delivering after `max_deliver` deliveries (say, one whose handling
  killed the process each time) is dead-lettered by `DeliveryLimitWatch` from the advisory.

The handler's effects must be idempotent (the projector and the notifier key everything by event
ids): a batch cut short by a crash or a stop is delivered again.

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

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.contract.cloudevents import CONTENT_TYPE_HEADER, EnvelopeCodec, PoisonMessage
from shared.platform.bus import BusNames, close_client, connect_with_retry, ensure_streams
from shared.platform.deadletter import (
    ORIGINAL_SEQUENCE_HEADER,
    ORIGINAL_SUBJECT_HEADER,
    REASON_HEADER,
    DeliveryLimitWatch,
    publish_deadletter,
)
from shared.platform.delivery import Delivered, decode_message, stream_sequence
from shared.platform.errors import Permanent, RetryLater, classify
from shared.platform.held import HeldMessages
from shared.platform.retry import NotYet, retry_until_stopped, sleep_unless_stopped
from shared.platform.supervisor import LAG_PROBE_TIMEOUT, LagUnavailable

logger = logging.getLogger(__name__)

EventT = TypeVar("EventT")

__all__ = [
    "ORIGINAL_SEQUENCE_HEADER",
    "ORIGINAL_SUBJECT_HEADER",
    "REASON_HEADER",
    "BatchConsumer",
    "ConsumerSettings",
    "Delivered",
    "RetryLater",
    "stream_sequence",
]


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    nats_url: str
    bus: BusNames
    stream: str
    filter_subject: str
    durable: str
    batch_size: int = 200
    fetch_timeout: float = 0.5
    # Once a fetch finds nothing, the consumer waits for one message in a pull the server holds
    # this long: an idle consumer wakes a few times a minute, not twice a second, and the first
    # message returns the pull at once (a pull for a whole batch would wait to fill it).
    idle_wait: float = 5.0
    ack_wait: float = 30.0
    max_deliver: int = 10
    max_in_flight: int = 1
    # A batch that failed transiently is tried again after `retry_delay`, doubling up to the max.
    retry_delay: float = 0.5
    retry_max_delay: float = 30.0
    # A message the handler keeps answering `RetryLater` for is naked after `nak_delay` seconds,
    # doubling with each delivery up to `retry_max_delay`, and dead-lettered on its
    # `retry_later_limit`-th delivery (or its `max_deliver`-th, if that comes first).
    nak_delay: float = 1.0
    retry_later_limit: int = 10

    @property
    def deliveries_to_wait(self) -> int:
        if self.max_deliver > 0:
            return min(self.retry_later_limit, self.max_deliver)
        return self.retry_later_limit


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
        self._stop = asyncio.Event()
        self._held = HeldMessages(settings.ack_wait)
        self.delivery_limit = DeliveryLimitWatch(settings.bus, settings.stream, settings.durable)
        self.processed = 0
        self.deadlettered = 0
        self.transient_failures = 0
        self.idle_waits = 0  # long pulls begun: an idle consumer's wake-ups

    async def run(self, stop: asyncio.Event) -> None:
        client = await connect_with_retry(self._settings.nats_url, self._settings.durable, stop)
        if client is None:
            return
        self._client = client
        self._stop = stop
        keep_alive = asyncio.create_task(self._held.keep_alive())
        try:
            advisories = await retry_until_stopped(
                stop,
                lambda: self.delivery_limit.subscribe(client, stop),
                what=f"{self._settings.durable}: watching the delivery limit",
            )
            while advisories is not None and not stop.is_set():
                subscription = await self._subscribe(client, stop)
                if subscription is None:
                    return
                await self._consume(client, subscription, stop)
        finally:
            keep_alive.cancel()
            # Every fetched batch was acked or naked; a pull subscription has nothing to drain,
            # and nats-py's drain would wait out its timeout on it. Flush the acks and close.
            self._client = None
            await close_client(client)

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
            num_replicas=self._settings.bus.settings.consumer_replicas or None,
        )

        async def bind() -> JetStreamContext.PullSubscription:
            # The stream it reads is its publisher's to declare; it declares where it parks.
            bus = self._settings.bus
            await ensure_streams(js, bus, only=(bus.deadletter_stream,))
            # Create or update: pull_subscribe alone binds an existing durable as it is, so
            # a consumer whose filter changed between releases would silently keep the old one.
            try:
                await js.add_consumer(self._settings.stream, config=config)
            except nats.js.errors.NotFoundError as missing:
                raise NotYet(f"stream {self._settings.stream} not declared yet") from missing
            return await js.pull_subscribe(
                self._settings.filter_subject,
                durable=self._settings.durable,
                stream=self._settings.stream,
                config=config,
            )

        return await retry_until_stopped(
            stop, bind, what=f"{self._settings.durable}: binding the consumer"
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
        After a fetch finds nothing, the next waits for one message (`idle_wait`), then batches
        are fetched again.
        """
        next_batch: asyncio.Task[list[Msg]] | None = None
        idle = False
        try:
            while not stop.is_set():
                try:
                    if idle:
                        messages = await self._wait_for_one(subscription, stop)
                    else:
                        fetching = next_batch or asyncio.create_task(self._fetch(subscription))
                        next_batch = None
                        messages = await fetching
                except TimeoutError:
                    idle = True  # nothing to fetch: wait for the next message, long
                    continue
                except nats.errors.Error as error:
                    # After a server restart the subscription may be gone: rebind.
                    logger.warning(
                        "%s: fetch failed (%s); rebinding", self._settings.durable, error
                    )
                    await sleep_unless_stopped(stop, 0.5)
                    return
                if messages is None:
                    break  # stopped while idle
                idle = False
                if not stop.is_set():
                    next_batch = asyncio.create_task(self._fetch(subscription))
                await self._start(client, messages)
            fetched, next_batch = next_batch, None
            await self._finish(client, fetched)
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

    async def _finish(self, client: NatsClient, fetched: asyncio.Task[list[Msg]] | None) -> None:
        """Stopping: handle the batch fetched meanwhile, and wait for every batch in flight."""
        if fetched is not None:
            with contextlib.suppress(TimeoutError, nats.errors.Error):
                await self._start(client, await fetched)
        await self._settle(wait_for=0)

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
        messages = await subscription.fetch(
            self._settings.batch_size, timeout=self._settings.fetch_timeout
        )
        self._held.hold(messages)
        return messages

    async def _wait_for_one(
        self, subscription: JetStreamContext.PullSubscription, stop: asyncio.Event
    ) -> list[Msg] | None:
        """The next message, in a pull the server holds up to `idle_wait`; None on stop.

        The pull is cancelled on stop: a message the server sends it then finds no reader and is
        delivered again after its `ack_wait`, as after a crash.
        """
        self.idle_waits += 1
        fetching = asyncio.create_task(subscription.fetch(1, timeout=self._settings.idle_wait))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait((fetching, stopping), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            fetching.cancel()
            raise
        finally:
            stopping.cancel()
        if not fetching.done():
            fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, nats.errors.Error):
                await fetching
            if fetching.cancelled() or fetching.exception() is not None:
                return None
        messages = fetching.result()
        self._held.hold(messages)
        return messages

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
                delivered = decode_message(self._codec, self._settings.bus, message)
            except PoisonMessage as poison:
                await self._deadletter(client, message, str(poison))
                continue
            batch.append(delivered)
            deliverable.append(message)
        return batch, deliverable

    async def _handle_batch(
        self, client: NatsClient, batch: list[Delivered[EventT]], messages: list[Msg]
    ) -> None:
        """Handle the batch until it commits, or hand it to the path its failure calls for."""
        pause = self._settings.retry_delay
        while True:
            try:
                await self._handle(batch)
            except RetryLater as later:
                await self._retry_later(client, batch, messages, later)
                return
            except Exception as error:  # noqa: BLE001 - classified; permanent ones are isolated
                if isinstance(classify(error), Permanent):
                    await self._isolate_failure(client, batch, messages, error)
                    return
                if not await self._pause_after(error, pause):
                    await self._release(messages)
                    return
                pause = min(pause * 2, self._settings.retry_max_delay)
                continue
            await self._held.ack_batch(messages)
            self.processed += len(batch)
            return

    async def _pause_after(self, error: Exception, pause: float) -> bool:
        """Wait before trying a transiently failed batch again; False if the service stops."""
        self.transient_failures += 1
        logger.warning(
            "%s: batch failed (%s: %s); trying it again in %.1fs",
            self._settings.durable,
            type(error).__name__,
            error,
            pause,
        )
        await sleep_unless_stopped(self._stop, pause)
        return not self._stop.is_set()

    async def _release(self, messages: list[Msg]) -> None:
        """Stopping with a batch not applied: redeliver it now (to another instance, maybe)."""
        for message in messages:
            await self._held.nak(message)

    async def _retry_later(
        self,
        client: NatsClient,
        batch: list[Delivered[EventT]],
        messages: list[Msg],
        later: RetryLater,
    ) -> None:
        """Apply what can be applied now; nak what must wait, or park it once it waited enough."""
        if len(batch) > 1:
            for delivered, message in zip(batch, messages, strict=True):
                await self._handle_batch(client, [delivered], [message])
            return
        message = messages[0]
        deliveries = message.metadata.num_delivered
        if deliveries >= self._settings.deliveries_to_wait:
            reason = f"still waiting after {deliveries} deliveries: {later}"
            await self._deadletter(client, message, reason)
            return
        delay = min(
            self._settings.nak_delay * 2 ** (deliveries - 1), self._settings.retry_max_delay
        )
        logger.info("%s: %s; delivering it again in %.1fs", self._settings.durable, later, delay)
        await self._held.nak(message, delay)

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
        await publish_deadletter(
            client,
            self._settings.bus.deadletter(self._settings.durable),
            data=message.data,
            reason=reason,
            original_subject=message.subject,
            stream_sequence=stream_sequence(message),
            content_type=(message.headers or {}).get(CONTENT_TYPE_HEADER),
        )
        await self._held.term(message)
        self.deadlettered += 1
