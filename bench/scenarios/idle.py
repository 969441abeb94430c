"""The whole system with no traffic: what it costs to wait."""

import asyncio
import time
from typing import ClassVar

from bench.cpu import snapshot
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario, Target
from bench.system import BenchSystem, wait_until_drained

DRAIN_TIMEOUT = 600.0
SETTLE_SECONDS = 2.0


class Idle(Scenario):
    name = "idle"
    title = "no traffic: CPU of the services, PostgreSQL and nats-server"
    baseline_title = "none"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("system cpu % of a core", (Target("value", "<", 1),)),
    )

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        system = context.system
        await wait_until_drained(system, DRAIN_TIMEOUT)
        await asyncio.sleep(SETTLE_SECONDS)
        duration = context.settings.seconds(full=20, quick=6)
        before, started = _cpu_seconds(system), time.monotonic()
        await asyncio.sleep(duration)
        after, elapsed = _cpu_seconds(system), time.monotonic() - started
        shares = {
            f"{name} cpu % of a core": 100 * (after[name] - used) / elapsed
            for name, used in before.items()
        }
        return RunMeasurement(values={"system cpu % of a core": sum(shares.values())}, notes=shares)


def _cpu_seconds(system: BenchSystem) -> dict[str, float]:
    """CPU so far of each service process and, when embedded, of PostgreSQL (every backend) and
    nats-server."""
    return snapshot(system.service_pids(), system.server_pids()).processes
