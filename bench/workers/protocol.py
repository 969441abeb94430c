"""What the bench sends to a worker process and what it gets back."""

import asyncio
import resource
import time
from typing import Literal

import msgspec


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """A shared schedule on the machine-wide monotonic clock: wait, warm up, then measure."""

    start_at: float
    warmup: float
    duration: float

    @property
    def measure_from(self) -> float:
        return self.start_at + self.warmup

    @property
    def end(self) -> float:
        return self.start_at + self.warmup + self.duration

    def measures(self, moment: float) -> bool:
        return self.measure_from <= moment < self.end


class HttpLoad(msgspec.Struct, frozen=True, kw_only=True, tag="http-load"):
    host: str
    port: int
    bearer: str
    prefix: str
    connections: int
    window: Window
    # 0: closed loop (each connection sends as soon as it has its answer); else attempts/s.
    rate: float = 0.0
    # 0: every attempt starts a stream of its own (each one moves mastery).
    students: int = 5000


class SingleRowInserts(msgspec.Struct, frozen=True, kw_only=True, tag="single-row-inserts"):
    database_url: str
    table: str
    tenant_id: str
    prefix: str
    connections: int
    window: Window
    students: int = 5000


class ProjectorRun(msgspec.Struct, frozen=True, kw_only=True, tag="projector"):
    database_url: str
    nats_url: str
    namespace: str
    expected: int
    batch_size: int = 200
    timeout: float = 600.0


class ProjectorInstanceRun(msgspec.Struct, frozen=True, kw_only=True, tag="projector-instance"):
    """One mastery projector instance among `instances` sharing the partitions of a stream."""

    database_url: str
    nats_url: str
    namespace: str
    start_at: float  # time.monotonic(): every instance's first look, and the clock's start
    batch_size: int = 200
    timeout: float = 600.0


class FetchAckRun(msgspec.Struct, frozen=True, kw_only=True, tag="fetch-ack"):
    nats_url: str
    namespace: str
    durable: str
    expected: int
    batch_size: int = 200
    timeout: float = 600.0


class AppendRun(msgspec.Struct, frozen=True, kw_only=True, tag="append"):
    store: Literal["ours", "eventsourcing"]
    database_url: str
    tenant_id: str
    prefix: str
    writers: int
    window: Window
    students: int = 5000


class BatchHttpLoad(msgspec.Struct, frozen=True, kw_only=True, tag="batch-http-load"):
    """Closed loop: each connection posts a batch of attempts as soon as it has its answer."""

    host: str
    port: int
    bearer: str
    prefix: str
    connections: int
    window: Window
    batch_size: int = 500
    students: int = 5000


class CopyBatches(msgspec.Struct, frozen=True, kw_only=True, tag="copy-batches"):
    """The raw ceiling of batch ingest: asyncpg COPY of batches of event rows, closed loop."""

    database_url: str
    table: str
    tenant_id: str
    prefix: str
    connections: int
    window: Window
    batch_size: int = 500
    students: int = 5000


class RebuildRun(msgspec.Struct, frozen=True, kw_only=True, tag="rebuild"):
    database_url: str


class CursorScanRun(msgspec.Struct, frozen=True, kw_only=True, tag="cursor-scan"):
    database_url: str
    query: str
    prefetch: int


WorkerSpec = (
    HttpLoad
    | SingleRowInserts
    | ProjectorRun
    | ProjectorInstanceRun
    | FetchAckRun
    | AppendRun
    | BatchHttpLoad
    | CopyBatches
    | RebuildRun
    | CursorScanRun
)


class WorkerResult(msgspec.Struct, kw_only=True):
    completed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = msgspec.field(default_factory=list)
    errors: dict[str, int] = msgspec.field(default_factory=dict)
    # (student id, monotonic ns the POST was due) for matching with mastery changes.
    sends: list[tuple[str, int]] = msgspec.field(default_factory=list)
    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0


def with_process_usage(result: WorkerResult) -> WorkerResult:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = usage.ru_utime + usage.ru_stime
    result.peak_rss_mib = usage.ru_maxrss / 1024
    return result


async def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
