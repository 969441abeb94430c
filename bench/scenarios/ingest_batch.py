"""Batches of attempts over HTTP, against raw asyncpg COPY of the same event rows."""

from typing import ClassVar

from bench.launch import merged, rate, require_success, run_workers, schedule
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario, Target
from bench.stats import percentile
from bench.system import BENCH_TENANT, create_raw_events_table, wait_until_drained
from bench.workers.protocol import BatchHttpLoad, CopyBatches

RAW_TABLE = "bench_copy_attempt_events"
BATCH_SIZE = 500
CLIENTS = 4
GENERATOR_PROCESSES = 2
DRAIN_TIMEOUT = 900.0


class IngestBatch(Scenario):
    name = "ingest-batch"
    title = (
        f"POST /v1/attempts/batch ({BATCH_SIZE} per request), {CLIENTS} keep-alive clients "
        f"in {GENERATOR_PROCESSES} processes"
    )
    baseline_title = (
        f"asyncpg COPY of the same event rows, {BATCH_SIZE} per COPY, {CLIENTS} connections"
    )
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("attempts/s", (Target("ratio", ">=", 0.5),), has_baseline=True),
        MetricSpec("batch p50 ms", has_baseline=True),
        MetricSpec("batch p99 ms", has_baseline=True),
    )

    async def prepare(self, context: BenchContext) -> None:
        await create_raw_events_table(context.system.database_url, RAW_TABLE)

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        settings, system = context.settings, context.system
        window = schedule(warmup=2, duration=settings.seconds(full=15, quick=4))
        load = merged(
            await run_workers(
                [
                    BatchHttpLoad(
                        host="127.0.0.1",
                        port=system.ports["attempts"],
                        bearer=system.api_key,
                        prefix=f"batch{run}p{process}",
                        connections=CLIENTS // GENERATOR_PROCESSES,
                        window=window,
                        batch_size=BATCH_SIZE,
                    )
                    for process in range(GENERATOR_PROCESSES)
                ]
            )
        )
        require_success("POST /v1/attempts/batch items", load.completed, load.errors)
        drain_seconds = await wait_until_drained(system, DRAIN_TIMEOUT)
        raw = merged(
            await run_workers(
                [
                    CopyBatches(
                        database_url=system.database_url,
                        table=RAW_TABLE,
                        tenant_id=BENCH_TENANT,
                        prefix=f"copy{run}",
                        connections=CLIENTS,
                        window=schedule(warmup=1, duration=settings.seconds(full=8, quick=3)),
                        batch_size=BATCH_SIZE,
                    )
                ]
            )
        )
        return RunMeasurement(
            values=_rate_and_latency(rate(load), load.latencies_ms),
            baseline=_rate_and_latency(rate(raw), raw.latencies_ms),
            notes={
                "items refused or failed": float(sum(load.errors.values())),
                "generator cpu s": load.cpu_seconds,
                "backlog drain s": drain_seconds,
            },
        )


def _rate_and_latency(per_second: float, latencies_ms: list[float]) -> dict[str, float]:
    return {
        "attempts/s": per_second,
        "batch p50 ms": percentile(latencies_ms, 0.5),
        "batch p99 ms": percentile(latencies_ms, 0.99),
    }
