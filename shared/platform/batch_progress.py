"""A consumer's batches measured: each applied batch's size and apply time into the app's
histograms, a DEBUG line per batch, and now and then an INFO progress line with the lag."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from shared.platform.delivery import Delivered
from shared.platform.metrics import PROBE_TIMEOUT_SECONDS, ServiceMetrics
from shared.platform.supervisor import LagProbe

logger = logging.getLogger(__name__)

EventT = TypeVar("EventT")

# A periodic progress line at INFO, never one per event or batch (those are at DEBUG).
PROGRESS_INTERVAL_SECONDS = 30.0
Handler = Callable[[Sequence[Delivered[EventT]]], Awaitable[None]]


class BatchProgress:
    """Times each batch a consumer applies, and says how far it got."""

    def __init__(
        self,
        worker: str,
        metrics: ServiceMetrics | None,
        lag: LagProbe | None = None,
        interval: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        self._worker = worker
        self._metrics = metrics
        self._lag = lag
        self._interval = interval
        self._since = time.monotonic()
        self._events = 0
        self._batches = 0
        self._sequence = 0
        self._lines: set[asyncio.Task[None]] = set()

    def observed(self, handle: Handler[EventT]) -> Handler[EventT]:
        """`handle`, measured: only batches it applied (it returned) are counted."""

        async def handle_measured(batch: Sequence[Delivered[EventT]]) -> None:
            started = time.perf_counter()
            await handle(batch)
            self.applied(
                len(batch),
                max(item.stream_sequence for item in batch),
                time.perf_counter() - started,
            )

        return handle_measured

    def applied(self, events: int, sequence: int, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.batch_size.labels(self._worker).observe(events)
            self._metrics.batch_seconds.labels(self._worker).observe(seconds)
        logger.debug(
            "%s: batch applied",
            self._worker,
            extra={"events": events, "through_sequence": sequence, "ms": round(seconds * 1000, 1)},
        )
        self._events += events
        self._batches += 1
        self._sequence = max(self._sequence, sequence)
        now = time.monotonic()
        if now - self._since >= self._interval:
            fields = {
                "worker": self._worker,
                "applied": self._events,
                "batches": self._batches,
                "through_sequence": self._sequence,
                "seconds": round(now - self._since, 1),
            }
            self._since, self._events, self._batches = now, 0, 0
            line = asyncio.create_task(self._progress_line(fields))
            self._lines.add(line)
            line.add_done_callback(self._lines.discard)

    async def _progress_line(self, fields: dict[str, object]) -> None:
        """Log progress with the consumer's lag, asked after the batch so it never waits on it."""
        lag: object = None
        if self._lag is not None:
            try:
                lag = dict(await asyncio.wait_for(self._lag(), PROBE_TIMEOUT_SECONDS)).get(
                    "consumer_pending"
                )
            except Exception as error:  # noqa: BLE001 - the line is logged without its lag
                lag = f"unknown ({type(error).__name__})"
        logger.info("%s: progress", self._worker, extra={**fields, "lag": lag})
