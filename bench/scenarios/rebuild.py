"""Rebuilding the read model from a large event store, against a raw cursor scan of that store."""

import time
from collections.abc import Iterator
from typing import ClassVar

import asyncpg

from bench.attempt_data import STANDARDS, event_row, recorded_event
from bench.launch import BenchFailure, rate, run_worker
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario, Target
from bench.system import BENCH_TENANT, create_database, define_standards
from bench.workers.batch_ingest import COPY_COLUMNS
from bench.workers.protocol import CursorScanRun, RebuildRun
from services.attempts.adapters.event_store import EVENT_COLUMNS

# Each student-standard stream gets this many attempts (the log interleaves the streams).
ATTEMPTS_PER_STREAM = 5
COPY_CHUNK = 50_000
# The rebuild's own read of the store: student streams in stream order.
SCAN_QUERY = (
    "SELECT stream_id, stream_version, event_id::text, data::text FROM attempt_events "
    "WHERE stream_id NOT LIKE '%//%' ORDER BY stream_id, stream_version"
)
SCAN_PREFETCH = 5_000


class Rebuild(Scenario):
    name = "rebuild"
    title = "rebuild_read_model (mastery rebuild) into a fresh read model, in its own process"
    baseline_title = "asyncpg cursor scan of the same rows in the same order"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("events/s", (Target("value", ">=", 100_000),), has_baseline=True),
        MetricSpec("rebuild peak RSS MiB"),
    )

    def __init__(self) -> None:
        self._database_url = ""
        self._events = 0
        self._streams = 0

    async def prepare(self, context: BenchContext) -> None:
        self._events = context.settings.count(full=1_000_000, quick=100_000)
        students = self._events // ATTEMPTS_PER_STREAM // len(STANDARDS)
        self._streams = students * len(STANDARDS)
        self._database_url = await create_database(context.system, "rebuild")
        await define_standards(self._database_url, context.system.bus, BENCH_TENANT, STANDARDS)
        started = time.monotonic()
        connection = await asyncpg.connect(self._database_url)
        try:
            for first in range(0, self._events, COPY_CHUNK):
                chunk = range(first, min(self._events, first + COPY_CHUNK))
                await connection.copy_records_to_table(
                    "attempt_events",
                    records=attempt_event_rows(chunk, students),
                    columns=COPY_COLUMNS,
                )
            await connection.execute("VACUUM ANALYZE attempt_events")
        finally:
            await connection.close()
        print(f"rebuild: {self._events} events copied in {time.monotonic() - started:.1f}s")

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        rebuilt = await run_worker(RebuildRun(database_url=self._database_url))
        proficiencies = rebuilt.errors.get("proficiencies", 0)
        if rebuilt.completed != self._events or proficiencies != self._streams:
            raise BenchFailure(
                f"rebuild saw {rebuilt.completed} events and made {proficiencies} proficiencies; "
                f"expected {self._events} and {self._streams}"
            )
        scan = await run_worker(
            CursorScanRun(database_url=self._database_url, query=SCAN_QUERY, prefetch=SCAN_PREFETCH)
        )
        return RunMeasurement(
            values={"events/s": rate(rebuilt), "rebuild peak RSS MiB": rebuilt.peak_rss_mib},
            baseline={"events/s": rate(scan)},
            notes={"rebuild s": rebuilt.seconds, "scan s": scan.seconds},
        )


def attempt_event_rows(numbers: range, students: int) -> Iterator[tuple[object, ...]]:
    """`attempt_recorded.v2` rows as the attempts service stores them, streams interleaved."""
    streams = students * len(STANDARDS)
    for number in numbers:
        event = recorded_event(BENCH_TENANT, "rebuild", number, students)
        yield EVENT_COLUMNS.values(event_row(event, version=number // streams + 1))
