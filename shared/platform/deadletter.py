"""Parking a message that will not be handled: on `deadletter.<consumer>`, with its reason.

Two ways in. The consumer parks a message it gave up on (poison, a handler failure of its own, a
`RetryLater` that kept waiting) and terminates it. And JetStream itself stops delivering a
message after `max_deliver` deliveries without telling the consumer; it only publishes an
advisory. `DeliveryLimitWatch` listens for that advisory, reads the message back from its stream
by sequence and parks it with the reason "delivery limit reached", so a message never vanishes
silently (say, one whose handling killed the process each time it was delivered).
"""

import asyncio
import logging

import msgspec
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from shared.contract.cloudevents import CONTENT_TYPE, CONTENT_TYPE_HEADER
from shared.platform.bus import BusNames
from shared.platform.retry import retry_until_stopped

logger = logging.getLogger(__name__)

REASON_HEADER = "Deadletter-Reason"
ORIGINAL_SUBJECT_HEADER = "Deadletter-Subject"
ORIGINAL_SEQUENCE_HEADER = "Deadletter-Stream-Sequence"
MSG_ID_HEADER = "Nats-Msg-Id"
DELIVERY_LIMIT_REACHED = "delivery limit reached"


async def publish_deadletter(
    client: NatsClient,
    subject: str,
    *,
    data: bytes,
    reason: str,
    original_subject: str,
    stream_sequence: int,
    content_type: str | None = None,
) -> None:
    """Park `data` on `subject`, with the original's `Content-Type` when it had one. Keyed by its
    stream sequence, so parking one message twice within the duplicate window (two instances
    seeing one advisory) stores it once."""
    headers = {
        REASON_HEADER: reason,
        ORIGINAL_SUBJECT_HEADER: original_subject,
        ORIGINAL_SEQUENCE_HEADER: str(stream_sequence),
        MSG_ID_HEADER: f"{subject}:{stream_sequence}",
    }
    if content_type is not None:
        headers[CONTENT_TYPE_HEADER] = content_type
    await client.jetstream().publish(subject, data, headers=headers)


# What of a parked outbox row's payload the dead-letter carries; a larger one (often the reason
# it was refused) stays in its log only, named by its message id.
PARKED_PAYLOAD_LIMIT = 64 * 1024
ORIGINAL_MSG_ID_HEADER = "Deadletter-Msg-Id"


async def park_outbox_row(
    js: JetStreamContext,
    deadletter_subject: str,
    *,
    subject: str,
    msg_id: str,
    payload: bytes,
    reason: str,
) -> None:
    """Park an outbox row the bus refused for good. Keyed by its message id, so a relay that
    parks it again after a crash stores it once."""
    carried = len(payload) <= PARKED_PAYLOAD_LIMIT
    headers = {
        REASON_HEADER: reason,
        ORIGINAL_SUBJECT_HEADER: subject,
        ORIGINAL_MSG_ID_HEADER: msg_id,
        MSG_ID_HEADER: f"parked:{msg_id}",
    }
    if carried:  # an outbox row's payload is a whole envelope
        headers[CONTENT_TYPE_HEADER] = CONTENT_TYPE
    await js.publish(deadletter_subject, payload if carried else b"", headers=headers)


class MaxDeliveriesAdvisory(msgspec.Struct, frozen=True):
    """`io.nats.jetstream.advisory.v1.max_deliver`, the fields used."""

    stream: str
    consumer: str
    stream_seq: int
    deliveries: int


_ADVISORY = msgspec.json.Decoder(MaxDeliveriesAdvisory)


def max_deliveries_subject(stream: str, durable: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}"


class DeliveryLimitWatch:
    """Dead-letters every message JetStream stops delivering to one durable consumer."""

    def __init__(self, bus: BusNames, stream: str, durable: str) -> None:
        self._subject = bus.deadletter(durable)
        self._stream = stream
        self._durable = durable
        self.parked = 0

    async def subscribe(self, client: NatsClient, stop: asyncio.Event) -> Subscription:
        """Listen from now on; nats-py subscribes again by itself after a reconnect."""

        async def on_advisory(message: Msg) -> None:
            await self._park(client, message, stop)

        return await client.subscribe(
            max_deliveries_subject(self._stream, self._durable), cb=on_advisory
        )

    async def _park(self, client: NatsClient, message: Msg, stop: asyncio.Event) -> None:
        try:
            advisory = _ADVISORY.decode(message.data)
        except msgspec.DecodeError:
            logger.exception("%s: unreadable max-deliveries advisory", self._durable)
            return
        reason = f"{DELIVERY_LIMIT_REACHED} ({advisory.deliveries} deliveries)"

        async def park() -> bool:
            stored = await client.jetstream().get_msg(self._stream, advisory.stream_seq)
            await publish_deadletter(
                client,
                self._subject,
                data=stored.data or b"",
                reason=reason,
                original_subject=stored.subject or "",
                stream_sequence=advisory.stream_seq,
                content_type=(stored.headers or {}).get(CONTENT_TYPE_HEADER),
            )
            return True

        logger.error(
            "%s: %s for stream sequence %d; dead-lettering it",
            self._durable,
            reason,
            advisory.stream_seq,
        )
        try:
            parked = await retry_until_stopped(stop, park, what=f"{self._durable}: dead-lettering")
        except nats.js.errors.NotFoundError:
            logger.exception(
                "%s: stream sequence %d is no longer in %s; it cannot be dead-lettered",
                self._durable,
                advisory.stream_seq,
                self._stream,
            )
            return
        if parked:
            self.parked += 1
