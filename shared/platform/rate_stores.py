"""Where a rate limit keeps each key's theoretical arrival time: this process, or a Redis.

A store answers one question per request, `take(key)`: may this key send one more request now?
The memory store decides synchronously (no await between reading and writing a key, so no lock
is needed). The Redis store decides inside one Lua script, so instances sharing a Redis share one
budget exactly, with no read-then-write race between them, in one round trip; the script reads
the Redis server's clock, so the instances' clocks need not agree.
"""

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from shared.platform.gcra import Decision, Policy, decide

logger = logging.getLogger(__name__)

# Expired entries are swept once the memory store holds this many keys (and again at twice as
# many as the sweep left), so its memory follows the keys active within one burst's time.
SWEEP_AT = 4096


class RateStore(Protocol):
    async def take(self, key: str) -> Decision: ...

    async def aclose(self) -> None: ...


class MemoryRateStore:
    """Each key's `tat` in a dict of this process, on the monotonic clock."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._sweep_at = SWEEP_AT

    async def take(self, key: str) -> Decision:
        now = self._clock()
        decision, tat = decide(self._policy, self._tats.get(key), now)
        if tat is not None:
            self._tats[key] = tat
            if len(self._tats) >= self._sweep_at:
                self._sweep(now)
        return decision

    def _sweep(self, now: float) -> None:
        # A tat in the past says nothing a missing entry does not.
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._sweep_at = max(SWEEP_AT, 2 * len(self._tats))

    async def aclose(self) -> None:
        return None


# GCRA in microseconds on the Redis server's clock (TIME); see shared/platform/gcra.py. Returns
# {allowed, wait, backlog}, the last two in microseconds. The key expires when its bucket is full.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local start = math.max(tat, now)
local after = start + interval
if after - now > tolerance then
  return {0, after - now - tolerance, start - now}
end
redis.call('SET', KEYS[1], after, 'PX', math.ceil((after - now) / 1000))
return {1, 0, after - now}
"""


class RedisRateStore:
    """Each key's `tat` in a Redis shared by the instances of a service; fails open.

    A rate limit guards capacity; refusing every request while Redis is away would turn a Redis
    outage into an API outage. A Redis that errs or does not answer within the client's socket
    timeout lets the request through; the outage is logged once, when it starts.
    """

    def __init__(
        self, policy: Policy, client: Any, namespace: str, errors: tuple[type[Exception], ...]
    ) -> None:
        self._policy = policy
        self._client = client
        self._script = client.register_script(GCRA_SCRIPT)
        self._namespace = namespace
        self._errors = errors
        self._failing = False

    async def take(self, key: str) -> Decision:
        args = [round(self._policy.interval * 1e6), round(self._policy.tolerance * 1e6)]
        try:
            allowed, wait, backlog = await self._script(
                keys=[f"{self._namespace}:{key}"], args=args
            )
        except self._errors as error:
            if not self._failing:
                logger.warning("rate-limit store unavailable, not limiting: %s", error)
            self._failing = True
            return Decision(allowed=True, wait=0.0, backlog=0.0)
        self._failing = False
        return Decision(allowed=bool(allowed), wait=wait / 1e6, backlog=backlog / 1e6)

    async def aclose(self) -> None:
        await self._client.aclose()


__all__ = ["GCRA_SCRIPT", "MemoryRateStore", "RateStore", "RedisRateStore"]
