"""CloudEvents 1.0 (structured JSON mode) envelopes for everything that travels on the bus."""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

EventT = TypeVar("EventT")

TYPE_PREFIX = "org.mastery."


class CloudEvent(msgspec.Struct, Generic[EventT], frozen=True, kw_only=True):
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    tenantid: str
    data: EventT
    # Extension attribute: the event's version within its stream, i.e. its recorded order.
    streamversion: int | None = None
    specversion: str = "1.0"
    datacontenttype: str = "application/json"


def cloudevent_type(event: msgspec.Struct) -> str:
    """The CloudEvents `type` derives from the event's versioned tag: one source of truth."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str), f"{type(event).__name__} has no string tag"
    return TYPE_PREFIX + tag


class PoisonMessage(ValueError):
    """A message that can never be processed: dead-letter it, do not retry it."""


class EnvelopeCodec(Generic[EventT]):
    """Encodes and decodes one event family; built once per consumer, not per message."""

    def __init__(
        self, event_type: object, *, upcast: Callable[[Any], EventT] | None = None
    ) -> None:
        """`event_type` is a Struct type or a tagged union; annotate: `EnvelopeCodec[T](T)`.

        With `upcast`, `event_type` may hold every version of the family and `EventT` only the
        latest ones: decoding upcasts at this edge, so what lies behind it sees the latest only.
        """
        self._decoder = msgspec.json.Decoder(CloudEvent[event_type])  # type: ignore[valid-type]
        self._encoder = msgspec.json.Encoder()
        self._upcast = upcast

    def encode(self, envelope: CloudEvent[EventT]) -> bytes:
        return self._encoder.encode(envelope)

    def decode(self, payload: bytes) -> CloudEvent[EventT]:
        try:
            envelope: CloudEvent[EventT] = self._decoder.decode(payload)
        except msgspec.DecodeError as error:
            raise PoisonMessage(f"undecodable event: {error}") from error
        if envelope.specversion != "1.0":
            raise PoisonMessage(f"unsupported CloudEvents specversion {envelope.specversion!r}")
        data_tenant = getattr(envelope.data, "tenant_id", envelope.tenantid)
        if data_tenant != envelope.tenantid:
            raise PoisonMessage(
                f"tenant mismatch: envelope says {envelope.tenantid!r}, data says {data_tenant!r}"
            )
        if self._upcast is not None:
            latest = self._upcast(envelope.data)
            if latest is not envelope.data:
                envelope = msgspec.structs.replace(envelope, data=latest)
        return envelope
