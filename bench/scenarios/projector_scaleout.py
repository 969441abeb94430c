"""Projector scale-out: 1, 2 and 4 mastery projector instances (processes) share the partitions
of one pre-filled stream; each run times all of them applying it, from their common first look
until every durable has acked everything."""

import time
from typing import ClassVar

from bench.launch import START_LEAD_SECONDS, run_workers
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario
from bench.scenarios.projector import BATCH_SIZE, PrefilledStream
from bench.workers.protocol import ProjectorInstanceRun
from services.mastery.adapters.projector import PROJECTOR_NAME
from shared.contract.partitions import DEFAULT_PARTITIONS
from shared.platform.bus_users import partition_durable

INSTANCES = (1, 2, 4)


def _metric(instances: int) -> str:
    return f"events/s, {instances} instance{'s' if instances > 1 else ''}"


class ProjectorScaleOut(Scenario):
    name = "projector-scaleout"
    title = (
        f"mastery projector instances sharing {DEFAULT_PARTITIONS} partitions (batch {BATCH_SIZE})"
    )
    baseline_title = "one instance (the ratios are in the notes)"
    metrics: ClassVar[tuple[MetricSpec, ...]] = tuple(MetricSpec(_metric(n)) for n in INSTANCES)

    def __init__(self) -> None:
        self._stream = PrefilledStream("", "", "", 0)

    async def prepare(self, context: BenchContext) -> None:
        self._stream = await PrefilledStream.prepared(
            context, "scaleout", "scale", partitioned=True
        )

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        values: dict[str, float] = {}
        notes: dict[str, float] = {}
        for instances in INSTANCES:
            rate = await self._measure(instances)
            values[_metric(instances)] = rate
            notes[f"ratio to 1 instance, {instances}"] = rate / values[_metric(1)]
        return RunMeasurement(values=values, notes=notes)

    async def _measure(self, instances: int) -> float:
        stream = self._stream
        # Each run starts from an empty read model and every durable at the stream's start.
        await stream.reset((PROJECTOR_NAME, *map(partition_durable, range(DEFAULT_PARTITIONS))))
        start_at = time.monotonic() + START_LEAD_SECONDS
        spec = ProjectorInstanceRun(
            database_url=stream.database_url,
            nats_url=stream.nats_url,
            namespace=stream.namespace,
            start_at=start_at,
            batch_size=BATCH_SIZE,
        )
        results = await run_workers([spec] * instances)
        await stream.check_applied(sum(result.completed for result in results), "the instances")
        return stream.expected / max(result.seconds for result in results)
