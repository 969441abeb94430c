"""Reads that wait, bounded, for the read model to reach a position, and say how far it got.

A read with `min_position` looks at the log and the read model (`positions.look`) until the
position is reached or `READ_WAIT_TIMEOUT` has passed, pausing between looks (10 ms, doubling to
200 ms): no connection is held while it pauses. It then answers the data it has, marked stale if
the position was not reached. Every read answers the tenant's watermark.
"""

import asyncio
from typing import Annotated

import asyncpg
import msgspec
from litestar.datastructures import ResponseHeader
from litestar.params import QueryParameter

from services.mastery.adapters.positions import look
from services.mastery.core.read_positions import Progress
from shared.platform.http import READ_MODEL_POSITION_HEADER, READ_MODEL_STALE_HEADER
from shared.platform.tenant_scope import tenant_connection

READ_YOUR_WRITES = (
    "With `min_position` (the `position` a write of the attempts service answered, also its "
    "`X-Log-Position` header), waits up to the service's `READ_WAIT_TIMEOUT` until the read model "
    "has applied that write, then answers; if it has not by then, answers what it has with "
    "`X-Read-Model-Stale: true`. `X-Read-Model-Position` says how far the read model has got: "
    "every event of the tenant's attempt log at or below it is applied."
)
MinPosition = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        le=2**63 - 1,
        description="Wait (bounded) until the read model has applied the attempt log's event at "
        "this position (and everything before it in the tenant's log that was acknowledged).",
    ),
]
FRESHNESS_HEADERS = [
    ResponseHeader(
        name=READ_MODEL_POSITION_HEADER,
        description="Every event of the tenant's attempt log at or below this is applied.",
        value="0",  # documents it as a string, as every header is
        documentation_only=True,
    ),
    ResponseHeader(
        name=READ_MODEL_STALE_HEADER,
        description="`true` when `min_position` was not reached within the wait.",
        value="true",
        documentation_only=True,
    ),
]
_FIRST_PAUSE = 0.01
_LONGEST_PAUSE = 0.2


class ReadWait(msgspec.Struct, frozen=True, kw_only=True):
    """How long a read may wait for its `min_position` (the service's `read_wait_timeout`)."""

    timeout: float


class Freshness(msgspec.Struct, frozen=True, kw_only=True):
    watermark: int
    stale: bool

    def headers(self) -> dict[str, str]:
        return {
            READ_MODEL_POSITION_HEADER: str(self.watermark),
            READ_MODEL_STALE_HEADER: "true" if self.stale else "false",
        }


async def wait_for(
    pool: asyncpg.Pool, tenant_id: str, min_position: int | None, wait: ReadWait
) -> Freshness:
    """Look until `min_position` is reached or the wait is over; read the data after this."""
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + wait.timeout, _FIRST_PAUSE
    while True:
        progress = await _look(pool, tenant_id, min_position)
        remaining = deadline - loop.time()
        if progress.reached or remaining <= 0:
            return Freshness(watermark=progress.watermark, stale=not progress.reached)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, _LONGEST_PAUSE)


async def _look(pool: asyncpg.Pool, tenant_id: str, min_position: int | None) -> Progress:
    async with tenant_connection(pool, tenant_id) as connection:
        return await look(connection, tenant_id, min_position)
