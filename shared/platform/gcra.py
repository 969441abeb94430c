"""The generic cell rate algorithm: a rate limit that spreads a key's budget evenly.

A key may send one request every `interval` seconds, and up to `burst` of them at once after a
quiet spell. The only state is the key's theoretical arrival time (`tat`): the moment its next
request would be on schedule. A request at `now` is allowed when, after it, the key is no more
than `burst` intervals ahead of schedule. Equivalent to a token bucket of `burst` tokens refilled
one per `interval`, with one number to store and no refill loop. Pure: `now` is an argument.
"""

import math

import msgspec


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """`limit` requests per `window` seconds, `burst` of them at once."""

    limit: int
    window: float
    burst: int

    @property
    def interval(self) -> float:
        return self.window / self.limit

    @property
    def tolerance(self) -> float:
        """How far ahead of schedule a key may get: its burst, in seconds."""
        return self.burst * self.interval


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """Whether one request may go, and how the key stands after it.

    `wait` is how long until the key may send again (0 when this request was allowed), `backlog`
    how far ahead of schedule the key is, in seconds (its bucket is full again after that long).
    """

    allowed: bool
    wait: float
    backlog: float


def decide(policy: Policy, tat: float | None, now: float) -> tuple[Decision, float | None]:
    """The decision on a request at `now`, and the key's new `tat` (None: nothing to store)."""
    start = now if tat is None else max(tat, now)
    after = start + policy.interval
    if after - now > policy.tolerance:
        wait = after - now - policy.tolerance
        return Decision(allowed=False, wait=wait, backlog=start - now), None
    return Decision(allowed=True, wait=0.0, backlog=after - now), after


def remaining(policy: Policy, decision: Decision) -> int:
    """Requests the key may still send at once."""
    return max(0, math.floor((policy.tolerance - decision.backlog) / policy.interval + 1e-9))


def whole_seconds(seconds: float) -> int:
    """Seconds for a header: rounded up, at least 1 (a client told 0 would retry at once)."""
    return max(1, math.ceil(seconds - 1e-9))


__all__ = ["Decision", "Policy", "decide", "remaining", "whole_seconds"]
