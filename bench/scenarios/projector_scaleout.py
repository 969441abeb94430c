"""Projector scale-out: 1, 2 and 4 mastery projector instances (processes) share the partitions
of one pre-filled stream; each run times all of them applying it, from their common first look
until every durable has acked everything."""

import time
from typing import ClassVar

import asyncpg
import nats

from bench.attempt_data import STANDARDS
from bench.launch import START_LEAD_SECONDS, BenchFailure, run_workers
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario
from bench.scenarios.projector import BATCH_SIZE, prefill, reset_projection
from bench.system import create_database
from bench.workers.protocol import ProjectorInstanceRun, WorkerResult
from services.mastery.adapters.projector import PROJECTOR_NAME
from shared.contract.partitions import DEFAULT_PARTITIONS
from shared.platform.bus import BusNames, ensure_streams
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
        self._database_url = ""
        self._namespace = ""
        self._nats_url = ""
        self._events = 0

    async def prepare(self, context: BenchContext) -> None:
        self._events = context.settings.count(full=100_000, quick=20_000)
        self._database_url = await create_database(context.system, "scaleout")
        self._namespace = f"{context.system.namespace}scale"
        self._nats_url = context.system.nats_url
        client = await nats.connect(self._nats_url)
        try:
            js = client.jetstream()
            bus = BusNames(self._namespace)
            await ensure_streams(js, bus)
            await prefill(js, bus, self._events, self._database_url, partitioned=True)
        finally:
            await client.close()

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        values: dict[str, float] = {}
        notes: dict[str, float] = {}
        for instances in INSTANCES:
            rate = await self._measure(instances)
            values[_metric(instances)] = rate
            notes[f"ratio to 1 instance, {instances}"] = rate / values[_metric(1)]
        return RunMeasurement(values=values, notes=notes)

    async def _measure(self, instances: int) -> float:
        await self._reset()
        start_at = time.monotonic() + START_LEAD_SECONDS
        spec = ProjectorInstanceRun(
            database_url=self._database_url,
            nats_url=self._nats_url,
            namespace=self._namespace,
            start_at=start_at,
            batch_size=BATCH_SIZE,
        )
        results = await run_workers([spec] * instances)
        await self._check(results)
        return (self._events + len(STANDARDS)) / max(result.seconds for result in results)

    async def _check(self, results: list[WorkerResult]) -> None:
        applied = sum(result.completed for result in results)
        if applied < self._events + len(STANDARDS):
            raise BenchFailure(f"the instances applied only {applied} events")
        connection = await asyncpg.connect(self._database_url)
        try:
            evidence = await connection.fetchval("SELECT count(*) FROM mastery_evidence")
        finally:
            await connection.close()
        if evidence != self._events:
            raise BenchFailure(f"{evidence} evidence rows for {self._events} attempts")

    async def _reset(self) -> None:
        """Each run starts from an empty read model and every durable at the stream's start."""
        durables = (PROJECTOR_NAME, *map(partition_durable, range(DEFAULT_PARTITIONS)))
        await reset_projection(self._nats_url, self._namespace, self._database_url, durables)
