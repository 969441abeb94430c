"""The same appends of attempt events, ours against the eventsourcing library's recorder."""

from typing import ClassVar

from bench.attempt_data import STANDARDS
from bench.launch import rate, require_success, run_worker, schedule
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario
from bench.system import BENCH_TENANT, create_database, define_standards
from bench.workers.protocol import AppendRun

WRITERS = 10


class AppendVersusEventsourcing(Scenario):
    name = "append-vs-eventsourcing"
    title = f"AttemptRecorder.record (one event row), {WRITERS} writers"
    baseline_title = (
        f"eventsourcing PostgresApplicationRecorder.insert_events (LOCK TABLE), {WRITERS} threads"
    )
    metrics: ClassVar[tuple[MetricSpec, ...]] = (MetricSpec("events/s", has_baseline=True),)

    def __init__(self) -> None:
        self._database_url = ""

    async def prepare(self, context: BenchContext) -> None:
        self._database_url = await create_database(context.system, "append")
        await define_standards(self._database_url, context.system.bus, BENCH_TENANT, STANDARDS)

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        duration = context.settings.seconds(full=10, quick=3)
        results = {}
        for store in ("ours", "eventsourcing"):
            results[store] = await run_worker(
                AppendRun(
                    store=store,
                    database_url=self._database_url,
                    tenant_id=BENCH_TENANT,
                    prefix=f"{store}{run}",
                    writers=WRITERS,
                    window=schedule(warmup=1, duration=duration),
                )
            )
        require_success("append (ours)", results["ours"].completed, results["ours"].errors)
        return RunMeasurement(
            values={"events/s": rate(results["ours"])},
            baseline={"events/s": rate(results["eventsourcing"])},
        )
