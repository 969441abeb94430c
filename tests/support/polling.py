import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    within: float = 10.0,
    interval: float = 0.05,
) -> T:
    """Poll `probe` until `until(result)` holds; fail with the last result at the deadline."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s; last result: {result!r}")
        await asyncio.sleep(interval)
