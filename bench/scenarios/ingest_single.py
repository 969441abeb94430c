"""Single attempts over HTTP from N keep-alive clients, against raw single-row inserts."""

import asyncio
from collections.abc import Iterable
from typing import ClassVar

from bench.cpu import cpu_shares, snapshot_at
from bench.launch import merged, rate, require_success, run_workers, schedule
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario, Target
from bench.stats import percentile
from bench.system import BENCH_TENANT, create_raw_events_table, wait_until_drained
from bench.workers.protocol import HttpLoad, SingleRowInserts

RAW_TABLE = "bench_raw_attempt_events"
CLIENTS = 16
GENERATOR_PROCESSES = 2
DRAIN_TIMEOUT = 600.0


class IngestSingle(Scenario):
    name = "ingest-single"
    title = f"POST /v1/attempts, {CLIENTS} keep-alive clients in {GENERATOR_PROCESSES} processes"
    baseline_title = f"asyncpg single-row INSERT transactions, {CLIENTS} connections"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("attempts/s", (Target("value", ">=", 1500),), has_baseline=True),
        MetricSpec("p50 ms", has_baseline=True),
        MetricSpec("p99 ms", (Target("value", "<", 50),), has_baseline=True),
        # The services' CPU (attempts, mastery, notify; not PostgreSQL or nats-server) over the
        # window, per attempt posted in it: what one attempt costs them, however loaded the machine.
        MetricSpec("services cpu ms per attempt", (Target("value", "<", 0.9),)),
    )

    async def prepare(self, context: BenchContext) -> None:
        await create_raw_events_table(context.system.database_url, RAW_TABLE)

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        settings, system = context.settings, context.system
        duration = settings.seconds(full=15, quick=4)
        window = schedule(warmup=2, duration=duration)
        pids, servers = system.service_pids(), system.server_pids()
        cpu_before = asyncio.create_task(snapshot_at(window.measure_from, pids, servers))
        cpu_after = asyncio.create_task(snapshot_at(window.end, pids, servers))
        load = merged(
            await run_workers(
                [
                    HttpLoad(
                        host="127.0.0.1",
                        port=system.ports["attempts"],
                        bearer=system.api_key,
                        prefix=f"ingest{run}p{process}",
                        connections=CLIENTS // GENERATOR_PROCESSES,
                        window=window,
                    )
                    for process in range(GENERATOR_PROCESSES)
                ]
            )
        )
        cpu = cpu_shares(await cpu_before, await cpu_after)
        require_success("POST /v1/attempts", load.completed, load.errors)
        drain_seconds = await wait_until_drained(system, DRAIN_TIMEOUT)
        raw = merged(
            await run_workers(
                [
                    SingleRowInserts(
                        database_url=system.database_url,
                        table=RAW_TABLE,
                        tenant_id=BENCH_TENANT,
                        prefix=f"raw{run}",
                        connections=CLIENTS,
                        window=schedule(warmup=1, duration=settings.seconds(full=8, quick=3)),
                    )
                ]
            )
        )
        per_second = load.completed / duration
        return RunMeasurement(
            values={
                **_rate_and_latency(per_second, load.latencies_ms),
                "services cpu ms per attempt": _cpu_ms_per_attempt(cpu, pids, per_second),
            },
            baseline=_rate_and_latency(rate(raw), raw.latencies_ms),
            notes={
                "http errors": float(sum(load.errors.values())),
                "generator cpu s": load.cpu_seconds,
                "backlog drain s": drain_seconds,
                **cpu,
                **{
                    f"{name} cpu ms per attempt": _cpu_ms_per_attempt(cpu, [name], per_second)
                    for name in servers
                },
            },
        )


def _rate_and_latency(per_second: float, latencies_ms: list[float]) -> dict[str, float]:
    return {
        "attempts/s": per_second,
        "p50 ms": percentile(latencies_ms, 0.5),
        "p99 ms": percentile(latencies_ms, 0.99),
    }


def _cpu_ms_per_attempt(
    shares: dict[str, float], processes: Iterable[str], per_second: float
) -> float:
    """The processes' summed `cpu % of a core` (CPU seconds per second, in percent) per attempt."""
    used = sum(shares[f"{name} cpu % of a core"] for name in processes)
    return 10 * used / per_second if per_second else float("nan")
