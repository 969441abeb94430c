"""How fast the mailer sends, and how long a failed email waits: pure arithmetic.

The clock and the random draw come from the caller (the mailer), so both are testable here.
"""

import msgspec


def retry_delay(attempts: int, first: float, cap: float, jitter: float, draw: float) -> float:
    """Seconds before retry number `attempts + 1`: `first` doubled per attempt up to `cap`, less
    a random share of up to `jitter` (0..1) of it, `draw` being uniform in [0, 1).

    The jitter spreads the retries of emails that failed together (an SMTP outage) so they do
    not all come back in the same second; subtracting keeps the cap a true maximum.
    """
    exponent = min(attempts, 62)  # beyond this the cap has long been reached
    ceiling = min(first * 2.0**exponent, cap)
    return ceiling * (1.0 - jitter * draw)


class TokenBucket(msgspec.Struct, frozen=True, kw_only=True):
    """At most `rate` sends per second on average, `burst` at once; rate 0 means no limit.

    `tokens` may fall below zero: a token taken ahead of time, paid for by waiting.
    """

    rate: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> "TokenBucket":
        return cls(rate=rate, burst=burst, tokens=burst, updated=now)

    def take(self, now: float) -> "tuple[TokenBucket, float]":
        """The bucket after taking one token at `now` (monotonic seconds), and how many seconds
        to wait before sending with it."""
        if self.rate <= 0:
            return self, 0.0
        refilled = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        left = refilled - 1.0
        after = msgspec.structs.replace(self, tokens=left, updated=now)
        return after, 0.0 if left >= 0 else -left / self.rate
