"""End to end at a fixed offered rate: from the POST to the mastery change seen on NATS."""

import asyncio
import contextlib
import time
from typing import ClassVar

import msgspec
import nats
from nats.aio.msg import Msg

from bench.launch import require_success, run_worker, schedule
from bench.scenarios.base import BenchContext, MetricSpec, RunMeasurement, Scenario, Target
from bench.stats import percentile
from bench.system import wait_until_drained
from bench.workers.protocol import HttpLoad

OFFERED_RATE = 500.0
CONNECTIONS = 32
# How long after the last POST a change may still arrive before it counts as lost.
STRAGGLER_SECONDS = 5.0


class _ChangedStudent(msgspec.Struct):
    student_id: str


class _ChangeEnvelope(msgspec.Struct):
    data: _ChangedStudent


_decoder = msgspec.json.Decoder(_ChangeEnvelope)


class _ChangeWatcher:
    """Notes when each student's mastery change arrives (each e2e attempt is a new stream), and
    when the attempt itself came by on the bus, which splits the latency in two: the attempts
    service and its relay, then the projector and the change log's relay."""

    def __init__(self) -> None:
        self.received: dict[str, int] = {}
        self.attempt_seen: dict[str, int] = {}
        self._awaited: set[str] | None = None
        self._all_in = asyncio.Event()

    async def on_attempt(self, message: Msg) -> None:
        student = _decoder.decode(message.data).data.student_id
        self.attempt_seen.setdefault(student, time.monotonic_ns())

    async def on_change(self, message: Msg) -> None:
        student = _decoder.decode(message.data).data.student_id
        self.received[student] = time.monotonic_ns()
        if self._awaited is not None:
            self._awaited.discard(student)
            if not self._awaited:
                self._all_in.set()

    async def wait_for(self, students: set[str], limit_seconds: float) -> set[str]:
        """Wait for the changes of `students`; returns those that did not come in time."""
        self._awaited = students - self.received.keys()
        if not self._awaited:
            return set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_in.wait(), limit_seconds)
        return set(self._awaited)


class EndToEnd(Scenario):
    name = "end-to-end"
    title = f"POST at {OFFERED_RATE:g}/s (open loop) -> mastery change received on NATS"
    baseline_title = ""
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("p50 ms"),
        MetricSpec("p99 ms", (Target("value", "<", 100),)),
        MetricSpec("max ms"),
    )

    async def run_once(self, context: BenchContext, run: int) -> RunMeasurement:
        system = context.system
        watcher = _ChangeWatcher()
        client = await nats.connect(system.nats_url)
        await client.subscribe(system.bus.all_mastery_changed(), cb=watcher.on_change)
        await client.subscribe(system.bus.partition_attempts_of_any(), cb=watcher.on_attempt)
        window = schedule(warmup=2, duration=context.settings.seconds(full=20, quick=5))
        load = await run_worker(
            HttpLoad(
                host="127.0.0.1",
                port=system.ports["attempts"],
                bearer=system.api_key,
                prefix=f"e2e{run}",
                connections=CONNECTIONS,
                window=window,
                rate=OFFERED_RATE,
                students=0,
            )
        )
        require_success("POST /v1/attempts", load.completed, load.errors)
        lost = await watcher.wait_for({student for student, _ in load.sends}, STRAGGLER_SECONDS)
        await client.close()
        require_success("mastery changes", len(load.sends) - len(lost), {"lost": len(lost)})
        await wait_until_drained(system, 120)
        latencies = [
            (watcher.received[student] - due_ns) / 1e6
            for student, due_ns in load.sends
            if student in watcher.received
        ]
        on_bus = [
            (watcher.attempt_seen[student] - due_ns) / 1e6
            for student, due_ns in load.sends
            if student in watcher.attempt_seen
        ]
        after_attempt = [
            (watcher.received[student] - watcher.attempt_seen[student]) / 1e6
            for student, _ in load.sends
            if student in watcher.received and student in watcher.attempt_seen
        ]
        return RunMeasurement(
            values={
                "p50 ms": percentile(latencies, 0.5),
                "p99 ms": percentile(latencies, 0.99),
                "max ms": max(latencies),
            },
            notes={
                "attempts posted": float(len(load.sends)),
                "changes lost": float(len(lost)),
                "http errors": float(sum(load.errors.values())),
                "http p50 ms": percentile(load.latencies_ms, 0.5),
                "http p99 ms": percentile(load.latencies_ms, 0.99),
                "attempt on the bus p50 ms": percentile(on_bus, 0.5),
                "attempt on the bus p99 ms": percentile(on_bus, 0.99),
                "change after the attempt p50 ms": percentile(after_attempt, 0.5),
                "change after the attempt p99 ms": percentile(after_attempt, 0.99),
            },
        )
