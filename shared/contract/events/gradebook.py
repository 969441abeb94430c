"""Everything the attempts service writes to the ATTEMPTS stream: attempts and standards.

The one decoder set of the family: every reader (the bus consumer, the log readers) decodes here
and upcasts here, so what lies behind sees the latest versions only.
"""

import msgspec

from shared.contract.cloudevents import EnvelopeCodec
from shared.contract.events.attempts import (
    ATTEMPTS_SUBJECT_KIND,
    AnyAttemptEvent,
    AttemptRecordedV1,
    LatestAttemptEvent,
    upcast,
)
from shared.contract.events.standards import STANDARDS_SUBJECT_KIND, AnyStandardEvent

AnyGradebookEvent = AnyAttemptEvent | AnyStandardEvent
LatestGradebookEvent = LatestAttemptEvent | AnyStandardEvent

SUBJECT_KIND: dict[type, str] = {**ATTEMPTS_SUBJECT_KIND, **STANDARDS_SUBJECT_KIND}


def subject_kind(event: AnyGradebookEvent) -> str:
    return SUBJECT_KIND[type(event)]


def upcast_gradebook(event: AnyGradebookEvent) -> LatestGradebookEvent:
    """Any version in, the latest out (standard events have one version so far). Pure."""
    return upcast(event) if isinstance(event, AttemptRecordedV1) else event


_decoder = msgspec.json.Decoder(AnyGradebookEvent)


def decode_gradebook_event(data: bytes | str) -> LatestGradebookEvent:
    """An event as stored in the log (its `data`), upcast to its latest version."""
    return upcast_gradebook(_decoder.decode(data))


def gradebook_envelopes() -> EnvelopeCodec[LatestGradebookEvent]:
    """The envelope codec of the ATTEMPTS stream: decodes every version, hands on the latest."""
    return EnvelopeCodec[LatestGradebookEvent](AnyGradebookEvent, upcast=upcast_gradebook)
