"""What a consumer hands its handler: an event read off a JetStream message, checked at the edge.

An event must name the tenant its subject names. Permissions decide who may publish on a subject
(`shared.platform.bus_users`); this check makes the subject bind the payload, so an event published
on one tenant's subject is never applied or emailed as another tenant's.
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from nats.aio.msg import Msg

from shared.contract.cloudevents import (
    CONTENT_TYPE_HEADER,
    CloudEvent,
    EnvelopeCodec,
    PoisonMessage,
    check_content_type,
)
from shared.platform.bus import BusNames

EventT = TypeVar("EventT")


@dataclass(frozen=True, slots=True)
class Delivered(Generic[EventT]):
    envelope: CloudEvent[EventT]
    stream_sequence: int


def decode_message(codec: EnvelopeCodec[EventT], bus: BusNames, message: Msg) -> Delivered[EventT]:
    """The message's event; `PoisonMessage` if it is undecodable or names another tenant than
    its subject, or in another content mode than structured CloudEvents JSON."""
    check_content_type((message.headers or {}).get(CONTENT_TYPE_HEADER))
    envelope = codec.decode(message.data)
    subject_tenant = bus.tenant_of(message.subject)
    if subject_tenant != envelope.tenantid:
        raise PoisonMessage(
            f"tenant mismatch: the subject {message.subject} names tenant {subject_tenant!r}, "
            f"the event names {envelope.tenantid!r}"
        )
    return Delivered(envelope, stream_sequence(message))


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
