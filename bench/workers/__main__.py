"""`python -m bench.workers`: run the worker described by the JSON spec on stdin."""

import sys

import msgspec
import uvloop

from bench.workers.append import run_append
from bench.workers.consumers import run_fetch_ack, run_projector
from bench.workers.http_load import run_http_load
from bench.workers.protocol import (
    AppendRun,
    FetchAckRun,
    HttpLoad,
    ProjectorRun,
    SingleRowInserts,
    WorkerResult,
    WorkerSpec,
    with_process_usage,
)
from bench.workers.single_row_inserts import run_single_row_inserts


async def run(spec: WorkerSpec) -> WorkerResult:
    match spec:
        case HttpLoad():
            return await run_http_load(spec)
        case SingleRowInserts():
            return await run_single_row_inserts(spec)
        case ProjectorRun():
            return await run_projector(spec)
        case FetchAckRun():
            return await run_fetch_ack(spec)
        case AppendRun():
            return await run_append(spec)


def main() -> None:
    spec = msgspec.json.decode(sys.stdin.buffer.read(), type=WorkerSpec)
    result = uvloop.run(run(spec))
    sys.stdout.buffer.write(msgspec.json.encode(with_process_usage(result)))


if __name__ == "__main__":
    main()
