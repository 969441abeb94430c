"""Events appended to the attempt log, by type, counted from the log when Prometheus scrapes.

Each scrape counts the events after the last one counted, one index range scan of the log. An
event's position is taken when it is inserted, so an event can commit after a higher position
did; counting stops short of the first event recorded within the last `SETTLE_SECONDS` (longer
than any append's transaction) so that such an event is counted when it commits, not skipped.
The counter starts at this process's first scrape, as a counter of events since start does.
"""

import asyncpg
from prometheus_client.core import CounterMetricFamily, Metric

SETTLE_SECONDS = 2.0

# The events after `$1` and before the first recorded within the last `$2` seconds, by type.
_COUNT_NEW = """
WITH fresh AS (
    SELECT global_position AS position, event_type, recorded_at FROM attempt_events
    WHERE global_position > $1
), settled AS (
    SELECT coalesce(min(position), 9223372036854775807) AS below FROM fresh
    WHERE recorded_at >= now() - make_interval(secs => $2)
)
SELECT event_type, count(*) AS appended, max(position) AS through
FROM fresh, settled WHERE position < below GROUP BY event_type
"""


class AppendedEvents:
    """A metrics probe (`shared.platform.metrics.Probe`) with its running counts."""

    def __init__(self, settle_seconds: float = SETTLE_SECONDS) -> None:
        self._settle = settle_seconds
        self._through: int | None = None
        self._counts: dict[str, int] = {}

    async def __call__(self, pool: asyncpg.Pool) -> list[Metric]:
        if self._through is None:
            self._through = int(
                await pool.fetchval("SELECT coalesce(max(global_position), 0) FROM attempt_events")
            )
        for row in await pool.fetch(_COUNT_NEW, self._through, self._settle):
            self._counts[row["event_type"]] = (
                self._counts.get(row["event_type"], 0) + row["appended"]
            )
            self._through = max(self._through, row["through"])
        family = CounterMetricFamily(
            "mastery_events_appended",
            "Events appended to the attempt log since this process's first scrape, by type",
            labels=["type"],
        )
        for event_type, count in sorted(self._counts.items()):
            family.add_metric([event_type], count)
        return [family]
