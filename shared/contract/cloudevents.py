"""CloudEvents 1.0 (structured JSON mode) envelopes for everything that travels on the bus.

Every message is structured mode of the CloudEvents NATS binding: the body is the whole envelope
as JSON, and the header `Content-Type: application/cloudevents+json` says so (no `ce-` headers).
Messages published before the header was sent have none; consumers take both.

An envelope may carry the distributed-tracing extension attribute `traceparent` (W3C Trace
Context) of the request that caused the event. It is optional and advisory: a malformed one is
dropped on decode, never poison, since no event's meaning depends on it.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from shared.contract.trace_context import valid_traceparent

EventT = TypeVar("EventT")

TYPE_PREFIX = "org.mastery."
CONTENT_TYPE_HEADER = "Content-Type"
CONTENT_TYPE = "application/cloudevents+json"  # structured mode, JSON event format


class CloudEvent(msgspec.Struct, Generic[EventT], frozen=True, kw_only=True):
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    tenantid: str
    data: EventT
    # Extension attribute: the event's version within its stream (`subject`), 1, 2, ...: for an
    # attempts event its stream version, for a mastery change its number among that
    # student-standard's changes. Never null on what is published now (`encode` refuses it);
    # decoders still take null, which mastery changes published before it was numbered carry.
    streamversion: int | None = None
    specversion: str = "1.0"
    datacontenttype: str = "application/json"
    # Extension attribute (CloudEvents distributed tracing): the trace context of the request
    # that caused the event. Left out when there is none (unset is not encoded). Any JSON value
    # decodes; `decode` keeps a valid traceparent and drops anything else.
    traceparent: Any = msgspec.UNSET

    @property
    def trace_parent(self) -> str | None:
        """The valid traceparent this envelope carries, if any."""
        return self.traceparent if isinstance(self.traceparent, str) else None


def cloudevent_type(event: msgspec.Struct) -> str:
    """The CloudEvents `type` derives from the event's versioned tag: one source of truth."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str), f"{type(event).__name__} has no string tag"
    return TYPE_PREFIX + tag


class PoisonMessage(ValueError):
    """A message that can never be processed: dead-letter it, do not retry it."""


def check_content_type(content_type: str | None) -> None:
    """A message in another mode or format than ours is poison; one without the header is from
    before it was sent, and its body is the same envelope."""
    if content_type is not None and content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise PoisonMessage(f"unsupported Content-Type {content_type!r}, expected {CONTENT_TYPE}")


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
        if envelope.streamversion is None:
            raise ValueError(f"event {envelope.id} has no streamversion")
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
        if envelope.traceparent is not msgspec.UNSET:
            envelope = _with_valid_traceparent(envelope)
        if self._upcast is not None:
            latest = self._upcast(envelope.data)
            if latest is not envelope.data:
                envelope = msgspec.structs.replace(envelope, data=latest)
        return envelope


def _with_valid_traceparent(envelope: CloudEvent[EventT]) -> CloudEvent[EventT]:
    carried = envelope.traceparent
    valid = valid_traceparent(carried) if isinstance(carried, str) else None
    if valid is not None and valid == carried:
        return envelope
    return msgspec.structs.replace(envelope, traceparent=valid or msgspec.UNSET)
