"""The projector applying a pre-filled stream, against raw nats-py fetch + ack of that stream."""

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import asyncpg
import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bench.attempt_data import (
    STANDARDS,
    envelope_bytes,
    event_row,
    recorded_event,
    standard_defined,
    stream_of,
)
from bench.launch import BenchFailure, rate, run_worker
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario, Target
from bench.system import BENCH_TENANT, create_database
from bench.workers.protocol import FetchAckRun, ProjectorRun
from services.attempts.adapters.event_store import EVENT_COLUMNS, EventRow
from services.mastery.adapters.projector import PROJECTOR_NAME
from shared.platform.bus import BusNames, ensure_streams

BATCH_SIZE = 200
STUDENTS = 2000
PUBLISH_CHUNK = 2000
RAW_DURABLE = "bench-raw-fetch-ack"


class ProjectorThroughput(Scenario):
    name = "projector"
    title = f"mastery projector (batch {BATCH_SIZE}) over a pre-filled stream"
    baseline_title = f"nats-py pull fetch({BATCH_SIZE}) + ack of the same messages"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "events/s",
            (Target("value", ">=", 10_000), Target("ratio", ">=", 0.5)),
            has_baseline=True,
        ),
    )

    def __init__(self) -> None:
        self._stream = PrefilledStream("", "", "", 0)

    async def prepare(self, context: BenchContext) -> None:
        # A namespace of its own: the running mastery service must not consume these events.
        self._stream = await PrefilledStream.prepared(context, "projector", "proj")

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        stream = self._stream
        await stream.reset((PROJECTOR_NAME, RAW_DURABLE))
        projected = await run_worker(
            ProjectorRun(
                database_url=stream.database_url,
                nats_url=stream.nats_url,
                namespace=stream.namespace,
                expected=stream.expected,
                batch_size=BATCH_SIZE,
            )
        )
        raw = await run_worker(
            FetchAckRun(
                nats_url=stream.nats_url,
                namespace=stream.namespace,
                durable=RAW_DURABLE,
                expected=stream.expected,
                batch_size=BATCH_SIZE,
            )
        )
        await stream.check_applied(projected.completed, "the projector")
        return RunMeasurement(
            values={"events/s": rate(projected)},
            baseline={"events/s": rate(raw)},
            notes={
                "events applied": float(projected.completed),
                "events fetched raw": float(raw.completed),
                "projector peak rss MiB": projected.peak_rss_mib,
            },
        )


@dataclass(frozen=True, slots=True)
class PrefilledStream:
    """A database and a bus namespace of a projector scenario's own, pre-filled with the
    standards and `events` attempts, in the log and on the attempts stream."""

    database_url: str
    namespace: str
    nats_url: str
    events: int

    @classmethod
    async def prepared(
        cls, context: BenchContext, purpose: str, suffix: str, *, partitioned: bool = False
    ) -> "PrefilledStream":
        stream = cls(
            database_url=await create_database(context.system, purpose),
            namespace=f"{context.system.namespace}{suffix}",
            nats_url=context.system.nats_url,
            events=context.settings.count(full=100_000, quick=20_000),
        )
        client = await nats.connect(stream.nats_url)
        try:
            js = client.jetstream()
            bus = BusNames(stream.namespace)
            await ensure_streams(js, bus)
            await prefill(js, bus, stream.events, stream.database_url, partitioned=partitioned)
        finally:
            await client.close()
        return stream

    @property
    def expected(self) -> int:
        """The events a run applies: the standards and the attempts."""
        return self.events + len(STANDARDS)

    async def reset(self, durables: Sequence[str]) -> None:
        """Each run starts from an empty read model and `durables` at the stream's start."""
        await reset_projection(self.nats_url, self.namespace, self.database_url, durables)

    async def check_applied(self, applied: int, by: str) -> None:
        """Every event applied, and one evidence row per attempt."""
        if applied < self.expected:
            raise BenchFailure(f"{by} applied only {applied} events")
        connection = await asyncpg.connect(self.database_url)
        try:
            evidence = await connection.fetchval("SELECT count(*) FROM mastery_evidence")
        finally:
            await connection.close()
        if evidence != self.events:
            raise BenchFailure(f"{evidence} evidence rows for {self.events} attempts")


async def reset_projection(
    nats_url: str, namespace: str, database_url: str, durables: Sequence[str]
) -> None:
    """An empty read model and no `durables` on the attempts stream, so each run starts over.
    Evidence rows too: left in place, every redelivered attempt would drop out as known."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        stream = BusNames(namespace).attempts_stream
        for durable in durables:
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(stream, durable)
    finally:
        await client.close()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "TRUNCATE proficiencies, mastery_evidence, standard_policies, tenant_default_policies"
        )
    finally:
        await connection.close()


async def prefill(
    js: JetStreamContext,
    bus: BusNames,
    events: int,
    database_url: str,
    *,
    partitioned: bool = False,
) -> None:
    """The standards first, as the attempts service would have recorded and published them, then
    attempts: in the event store (the projector applies what the log holds) and on the bus,
    on the tenant's subject as before partitioning, or `partitioned` on each student's."""
    logged: list[EventRow] = []
    for standard_id in STANDARDS:
        standard = standard_defined(BENCH_TENANT, standard_id)
        event_id = str(uuid.uuid4())
        logged.append(event_row(standard, version=1, event_id=event_id))
        payload = envelope_bytes(standard, event_id=event_id, stream_version=1)
        await js.publish(bus.attempts(BENCH_TENANT, "standard_defined"), payload)
    versions: dict[str, int] = {}
    for chunk_start in range(0, events, PUBLISH_CHUNK):
        futures = []
        for number in range(chunk_start, min(events, chunk_start + PUBLISH_CHUNK)):
            event = recorded_event(BENCH_TENANT, "proj", number, STUDENTS)
            stream = stream_of(event)
            versions[stream] = versions.get(stream, 0) + 1
            event_id = str(uuid.uuid4())
            logged.append(event_row(event, version=versions[stream], event_id=event_id))
            payload = envelope_bytes(event, event_id=event_id, stream_version=versions[stream])
            subject = (
                bus.student_attempts(BENCH_TENANT, event.student_id, "recorded")
                if partitioned
                else bus.attempts(BENCH_TENANT, "recorded")
            )
            futures.append(await js.publish_async(subject, payload))
        await asyncio.gather(*futures)
    connection = await asyncpg.connect(database_url)
    try:
        records = [EVENT_COLUMNS.values(row) for row in logged]
        await connection.copy_records_to_table(
            "attempt_events", records=records, columns=EVENT_COLUMNS.names
        )
    finally:
        await connection.close()
