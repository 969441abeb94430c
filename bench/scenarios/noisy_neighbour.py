"""One tenant floods the write API past its rate limit; another tenant's latency is measured.

Tenant B posts single attempts at a steady rate (open loop) to an attempts service running the
shipped per-key limit, first alone (quiet), then while tenant A offers many times its limit.
The ratio of B's p99 under the flood to its quiet p99 is the result; the goal is under 2. For
contrast, the same flood against the bench's attempts service without a limit.
"""

from typing import ClassVar

from bench.launch import merged, rate, require_success, run_workers, schedule
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario, Target
from bench.stats import percentile
from bench.system import prepare_tenant, start_extra_service, wait_until_drained
from bench.workers.protocol import HttpLoad, Window, WorkerResult
from services.attempts.config import AttemptsConfig
from shared.platform.config import load_config

# What ships: the attempts service's default per-key limit, in requests per second.
LIMIT = load_config(AttemptsConfig, {"DATABASE_URL": "unused"}).rate_limit_requests
B_RATE = LIMIT / 2  # well inside its own limit
FLOOD_FACTOR = 10  # A offers ten times its limit
FLOOD_PROCESSES = 2
FLOOD_CONNECTIONS = 16  # per process
DRAIN_TIMEOUT = 300.0
LIMITED = "attempts-limited"


class NoisyNeighbour(Scenario):
    name = "noisy-neighbour"
    title = (
        f"tenant B posts {B_RATE:g} attempts/s (open loop) while tenant A offers "
        f"{FLOOD_FACTOR}x its limit of {LIMIT}/s"
    )
    baseline_title = "tenant B alone"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("B p99 ms", (Target("ratio", "<", 2.0),), has_baseline=True),
        MetricSpec("B p50 ms", has_baseline=True),
        MetricSpec("A accepted/s"),
        MetricSpec("A offered/s"),
        MetricSpec("B p99 ms, no limit"),
    )

    def __init__(self) -> None:
        self.key_a = ""
        self.key_b = ""

    async def prepare(self, context: BenchContext) -> None:
        system = context.system
        self.key_a = await prepare_tenant(system.database_url, system.bus, "flooding-school")
        self.key_b = await prepare_tenant(system.database_url, system.bus, "quiet-school")
        start_extra_service(system, LIMITED, "attempts", {"RATE_LIMIT_REQUESTS": str(LIMIT)})

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        system, settings = context.system, context.settings
        duration = settings.seconds(full=15, quick=5)
        quiet = await self._measure(
            context, system.ports[LIMITED], f"q{run}", duration, flood=False
        )
        flooded = await self._measure(
            context, system.ports[LIMITED], f"f{run}", duration, flood=True
        )
        unlimited = await self._measure(
            context, system.ports["attempts"], f"u{run}", duration, flood=True
        )
        b_quiet, (b_flooded, a_flood), (b_unlimited, _) = quiet[0], flooded, unlimited
        return RunMeasurement(
            values={
                "B p99 ms": percentile(b_flooded.latencies_ms, 0.99),
                "B p50 ms": percentile(b_flooded.latencies_ms, 0.5),
                "A accepted/s": rate(a_flood),
                "A offered/s": (a_flood.completed + sum(a_flood.errors.values())) / duration,
                "B p99 ms, no limit": percentile(b_unlimited.latencies_ms, 0.99),
            },
            baseline={
                "B p99 ms": percentile(b_quiet.latencies_ms, 0.99),
                "B p50 ms": percentile(b_quiet.latencies_ms, 0.5),
            },
            notes={f"A {status}": float(count) for status, count in a_flood.errors.items()},
        )

    async def _measure(
        self, context: BenchContext, port: int, prefix: str, duration: float, *, flood: bool
    ) -> tuple[WorkerResult, WorkerResult]:
        """B's load, with A's flood beside it or not; waits for the backlog to drain after."""
        window = schedule(warmup=2, duration=duration)
        specs = [
            self._load(port, self.key_b, f"b{prefix}", window, per_second=B_RATE, connections=8)
        ]
        if flood:
            specs += [
                self._load(
                    port, self.key_a, f"a{prefix}p{process}", window,
                    per_second=LIMIT * FLOOD_FACTOR / FLOOD_PROCESSES,
                    connections=FLOOD_CONNECTIONS,
                )
                for process in range(FLOOD_PROCESSES)
            ]  # fmt: skip
        b_result, *a_results = await run_workers(specs)
        require_success("tenant B's POST /v1/attempts", b_result.completed, b_result.errors)
        await wait_until_drained(context.system, DRAIN_TIMEOUT)
        return b_result, merged(a_results)

    @staticmethod
    def _load(
        port: int, key: str, prefix: str, window: Window, *, per_second: float, connections: int
    ) -> HttpLoad:
        return HttpLoad(
            host="127.0.0.1",
            port=port,
            bearer=key,
            prefix=prefix,
            connections=connections,
            window=window,
            rate=per_second,
        )
