"""W3C Trace Context `traceparent` values (https://www.w3.org/TR/trace-context/), checked strictly.

A traceparent is what travels with a request and with the events it causes (the CloudEvents
distributed-tracing extension carries it on the bus): `version-traceid-parentid-flags` in
lower-case hex. Only a value of exactly that shape is kept anywhere: a malformed one is dropped,
never an error, and is never logged or stored as the client sent it, since the trace context is
the caller's input and a log reader must not be handed whatever it says.
"""

import re
from typing import NamedTuple

# Version 00 is exactly 55 characters. A later version may append fields after a `-`; its first
# four fields keep version 00's shape (the spec's rule for parsing versions it does not know).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
# What is sent on (a JSON Schema pattern): always the version 00 form.
TRACEPARENT_PATTERN = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
# What an envelope or a header may carry at most: version 00 plus room for future fields.
MAX_TRACEPARENT_LENGTH = 256
_INVALID_VERSION = "ff"
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
SAMPLED = 0x01


class TraceParent(NamedTuple):
    """A valid traceparent's ids (as integers, as OpenTelemetry holds them) and its flags."""

    trace_id: int
    span_id: int
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    def __str__(self) -> str:
        """The version 00 form: what is sent on, whatever version came in."""
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{self.flags:02x}"


def parse_traceparent(value: str | None) -> TraceParent | None:
    """The trace context `value` names, or None if it is absent or malformed: not lower-case
    hex of the right lengths, version ff, an all-zero trace or parent id, or a version 00 with
    anything after its flags."""
    if value is None or len(value) > MAX_TRACEPARENT_LENGTH:
        return None
    found = _TRACEPARENT.fullmatch(value)
    if found is None:
        return None
    version, trace_id, span_id, flags, rest = found.groups()
    if version == _INVALID_VERSION or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    # Flags other than `sampled` are not defined for version 00: not passed on.
    return TraceParent(int(trace_id, 16), int(span_id, 16), int(flags, 16) & SAMPLED)


def valid_traceparent(value: str | None) -> str | None:
    """`value` in its version 00 form if it is a valid traceparent, else None."""
    parsed = parse_traceparent(value)
    return None if parsed is None else str(parsed)
