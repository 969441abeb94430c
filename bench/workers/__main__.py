"""`python -m bench.workers`: run the worker described by the JSON spec on stdin."""

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import uvloop

from bench.workers.append import run_append
from bench.workers.batch_ingest import run_batch_http_load, run_copy_batches
from bench.workers.consumers import run_fetch_ack, run_projector
from bench.workers.http_load import run_http_load
from bench.workers.protocol import (
    AppendRun,
    BatchHttpLoad,
    CopyBatches,
    CursorScanRun,
    FetchAckRun,
    HttpLoad,
    ProjectorInstanceRun,
    ProjectorRun,
    RebuildRun,
    SingleRowInserts,
    WorkerResult,
    WorkerSpec,
    with_process_usage,
)
from bench.workers.rebuild import run_cursor_scan, run_rebuild
from bench.workers.scaleout import run_projector_instance
from bench.workers.single_row_inserts import run_single_row_inserts

Runner = Callable[[Any], Awaitable[WorkerResult]]
RUNNERS: dict[type[WorkerSpec], Runner] = {
    HttpLoad: run_http_load,
    SingleRowInserts: run_single_row_inserts,
    ProjectorRun: run_projector,
    ProjectorInstanceRun: run_projector_instance,
    FetchAckRun: run_fetch_ack,
    AppendRun: run_append,
    BatchHttpLoad: run_batch_http_load,
    CopyBatches: run_copy_batches,
    RebuildRun: run_rebuild,
    CursorScanRun: run_cursor_scan,
}


async def run(spec: WorkerSpec) -> WorkerResult:
    return await RUNNERS[type(spec)](spec)


def main() -> None:
    spec = msgspec.json.decode(sys.stdin.buffer.read(), type=WorkerSpec)
    result = uvloop.run(run(spec))
    sys.stdout.buffer.write(msgspec.json.encode(with_process_usage(result)))


if __name__ == "__main__":
    main()
