"""Raises the read model's watermarks for the tenants projector batches touched, a few times a
second rather than after every batch.

A raise is two looks at the log and one upsert (`positions.raise_watermarks`), a commit of its
own. After every batch, with eight partitions applying small batches, that was three statements
and a commit per batch for a number no batch needs: any watermark stored is true whenever it is
stored ("Reading your writes" in docs/architecture.md), and a read that asks for a position walks
the log from it. So batches note their tenants and one task per process raises them all at
most every `interval`, in one call. A tenant raised once is raised once more on the next round:
a raise proves the claim the one before it stored, so the second carries the watermark to the
last batch applied, and then the tenant rests until a batch notes it again.
"""

import asyncio
from collections.abc import Iterable

import asyncpg

from services.mastery.adapters.positions import raise_watermarks
from shared.platform.retry import retry_until_stopped, sleep_unless_stopped

RAISE_INTERVAL = 0.05


class WatermarkRaiser:
    def __init__(self, pool: asyncpg.Pool, interval: float = RAISE_INTERVAL) -> None:
        self._pool = pool
        self._interval = interval
        self._noted: set[str] = set()
        self._settling: set[str] = set()  # raised last round: once more proves that raise
        self._woken = asyncio.Event()
        self.raises = 0

    def note(self, tenant_ids: Iterable[str]) -> None:
        """A batch of these tenants committed."""
        self._noted.update(tenant_ids)
        self._woken.set()

    async def lag(self) -> dict[str, float]:
        """Tenants whose watermark waits for a raise (noted, or raised once and to be proved)."""
        return {"watermarks_to_raise": float(len(self._noted | self._settling))}

    async def run(self, stop: asyncio.Event) -> None:
        waiting_for_stop = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                if not (self._noted or self._settling):
                    woken = asyncio.ensure_future(self._woken.wait())
                    await asyncio.wait(
                        (woken, waiting_for_stop), return_when=asyncio.FIRST_COMPLETED
                    )
                    woken.cancel()
                    continue
                self._woken.clear()
                tenants = self._noted | self._settling
                self._settling, self._noted = self._noted, set()
                await self._raise_retried(stop, tenants)
                await sleep_unless_stopped(stop, self._interval)
        finally:
            waiting_for_stop.cancel()

    async def _raise_retried(self, stop: asyncio.Event, tenants: set[str]) -> None:
        async def raise_them() -> None:
            async with self._pool.acquire() as connection:
                await raise_watermarks(connection, tenants)

        await retry_until_stopped(stop, raise_them, what="raising read-model watermarks")
        self.raises += 1
